-- dm_client_velocity — grain: one row per client (client_id) with at least one purchase.
-- Purchases (amount > 0) per calendar day, over the days the client made a purchase:
-- active_days, the average and the maximum of those daily counts.
WITH per_day AS (
    SELECT client_id, tx_date, COUNT(*) AS daily_txn
    FROM silver_transactions
    WHERE amount > 0
    GROUP BY client_id, tx_date
)

SELECT
    client_id,
    COUNT(*) AS active_days,
    AVG(CAST(daily_txn AS DOUBLE)) AS avg_daily_txn,
    MAX(daily_txn) AS max_daily_txn
FROM per_day
GROUP BY client_id
ORDER BY client_id
