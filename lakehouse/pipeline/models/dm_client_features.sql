-- dm_client_features — grain: one row per client (client_id) with at least one purchase.
-- Purchases are amount > 0; "labeled" means label IS NOT NULL, so an unlabeled purchase counts
-- in tx_count but never as legitimate. Rates are NULL when nothing is labeled; std_amount is
-- the sample standard deviation (NULL for a single purchase). refund_count counts the client's
-- refunds (amount < 0), which are otherwise left out.
WITH per_client AS (
    SELECT
        client_id,
        COUNT(CASE WHEN amount > 0 THEN 1 END) AS tx_count,
        AVG(CASE WHEN amount > 0 THEN amount END) AS avg_amount,
        STDDEV_SAMP(CASE WHEN amount > 0 THEN amount END) AS std_amount,
        COUNT(CASE WHEN amount > 0 AND label = 1 THEN 1 END) AS fraud_count,
        COUNT(CASE WHEN amount > 0 AND label = 0 THEN 1 END) AS drop_count,
        COUNT(CASE WHEN amount > 0 THEN label END) AS labeled_count,
        COUNT(CASE WHEN amount < 0 THEN 1 END) AS refund_count,
        COUNT(DISTINCT CASE WHEN amount > 0 THEN merchant_id END) AS unique_merchants
    FROM silver_transactions
    GROUP BY client_id
)

SELECT
    client_id,
    tx_count,
    avg_amount,
    std_amount,
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
