-- `partials` holds additive sums per card, merged with a new day's by the gold stage.
WITH partials AS (
    SELECT
        card_id AS tx_card_id,
        card_type,
        COUNT(*) AS row_count,
        SUM(amount) AS amount_sum,
        COUNT(CASE WHEN label = 1 THEN 1 END) AS fraud_count,
        COUNT(CASE WHEN label = 0 THEN 1 END) AS drop_count,
        COUNT(label) AS labeled_count
    FROM silver_transactions
    WHERE amount > 0
    GROUP BY card_id, card_type
)

SELECT
    tx_card_id,
    card_type,
    row_count AS tx_count,
    fraud_count,
    amount_sum / row_count AS avg_amount,
    drop_count,
    labeled_count,
    CAST(fraud_count AS DOUBLE) / NULLIF(labeled_count, 0) AS fraud_rate,
    CAST(drop_count AS DOUBLE) / NULLIF(labeled_count, 0) AS drop_rate
FROM partials
ORDER BY tx_card_id
