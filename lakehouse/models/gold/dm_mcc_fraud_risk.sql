-- `partials` holds additive counts per MCC, merged with a new day's by the gold stage.
WITH partials AS (
    SELECT
        mcc_code,
        mcc_description,
        COUNT(*) AS row_count,
        COUNT(CASE WHEN label = 1 THEN 1 END) AS fraud_count,
        COUNT(CASE WHEN label = 0 THEN 1 END) AS drop_count,
        COUNT(label) AS labeled_count
    FROM silver_transactions
    WHERE amount > 0
    GROUP BY mcc_code, mcc_description
)

SELECT
    mcc_code,
    mcc_description,
    row_count AS tx_count,
    fraud_count,
    drop_count,
    labeled_count,
    CAST(fraud_count AS DOUBLE) / NULLIF(labeled_count, 0) AS fraud_rate,
    CAST(drop_count AS DOUBLE) / NULLIF(labeled_count, 0) AS drop_rate
FROM partials
ORDER BY mcc_code
