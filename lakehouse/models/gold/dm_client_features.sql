-- `partials` holds additive sums per (client, merchant): the gold stage merges a new day's
-- partials into the stored ones and finalizes only the clients it touched (docs/pipeline.md,
-- incremental gold).
WITH partials AS (
    SELECT
        client_id,
        merchant_id,
        COUNT(*) AS row_count,
        COUNT(CASE WHEN amount > 0 THEN 1 END) AS tx_count,
        SUM(CASE WHEN amount > 0 THEN amount END) AS amount_sum,
        SUM(CASE WHEN amount > 0 THEN amount * amount END) AS amount_sum_sq,
        COUNT(CASE WHEN amount > 0 AND label = 1 THEN 1 END) AS fraud_count,
        COUNT(CASE WHEN amount > 0 AND label = 0 THEN 1 END) AS drop_count,
        COUNT(CASE WHEN amount > 0 THEN label END) AS labeled_count,
        COUNT(CASE WHEN amount < 0 THEN 1 END) AS refund_count
    FROM silver_transactions
    GROUP BY client_id, merchant_id
),

per_client AS (
    SELECT
        client_id,
        CAST(SUM(tx_count) AS BIGINT) AS tx_count,
        SUM(amount_sum) AS amount_sum,
        SUM(amount_sum_sq) AS amount_sum_sq,
        CAST(SUM(fraud_count) AS BIGINT) AS fraud_count,
        CAST(SUM(drop_count) AS BIGINT) AS drop_count,
        CAST(SUM(labeled_count) AS BIGINT) AS labeled_count,
        CAST(SUM(refund_count) AS BIGINT) AS refund_count,
        COUNT(CASE WHEN tx_count > 0 THEN 1 END) AS unique_merchants
    FROM partials
    GROUP BY client_id
)

SELECT
    client_id,
    tx_count,
    amount_sum / tx_count AS avg_amount,
    -- sample variance from the sums; clamped at 0 against rounding when all amounts are equal
    CASE
        WHEN tx_count > 1
            THEN SQRT(GREATEST(
                (amount_sum_sq - amount_sum * amount_sum / tx_count) / (tx_count - 1), 0.0
            ))
    END AS std_amount,
    fraud_count,
    drop_count,
    labeled_count,
    refund_count,
    unique_merchants,
    CAST(fraud_count AS DOUBLE) / NULLIF(labeled_count, 0) AS fraud_rate,
    CAST(drop_count AS DOUBLE) / NULLIF(labeled_count, 0) AS drop_rate
FROM per_client
WHERE tx_count > 0
ORDER BY client_id
