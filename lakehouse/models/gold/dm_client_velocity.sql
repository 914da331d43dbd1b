-- `partials` holds the purchases per (client, day) (row_count), merged with a new day's by
-- the gold stage.
WITH partials AS (
    SELECT client_id, tx_date, COUNT(*) AS row_count
    FROM silver_transactions
    WHERE amount > 0
    GROUP BY client_id, tx_date
)

SELECT
    client_id,
    COUNT(*) AS active_days,
    AVG(CAST(row_count AS DOUBLE)) AS avg_daily_txn,
    MAX(row_count) AS max_daily_txn
FROM partials
GROUP BY client_id
ORDER BY client_id
