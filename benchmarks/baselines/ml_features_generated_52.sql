-- BENCHMARK BASELINE ONLY (benchmarks/bench_gold_sql.py): never run by the pipeline.
-- The first ml_features SQL generated from the declarations, feature set 2026.11.2: the same
-- 52 model inputs as the hand-written baseline, rendered from lakehouse/features/batch_sql.py
-- at commit 7e93fc6. It separates the cost of generation from the cost of the features added since.

WITH tx AS (
    SELECT transaction_id, ts, tx_date, card_id, client_id, merchant_id, mcc_code, label,
        label_known_at,
        CAST(FLOOR(epoch(ts)) AS BIGINT) AS ts_s,
        CAST(FLOOR(epoch(ts) / 86400) AS BIGINT) AS day_n,
        CAST(amount AS DOUBLE) AS amount,
        CAST(credit_limit AS DOUBLE) AS credit_limit,
        CAST(per_capita_income AS DOUBLE) AS per_capita_income,
        CAST(yearly_income AS DOUBLE) AS yearly_income,
        CAST(total_debt AS DOUBLE) AS total_debt,
        CAST(credit_score AS DOUBLE) AS credit_score,
        CAST(num_credit_cards AS DOUBLE) AS num_credit_cards,
        CASE lower(card_brand) WHEN 'visa' THEN 0 WHEN 'mastercard' THEN 1 WHEN 'amex' THEN 2 WHEN 'discover' THEN 3 ELSE -1 END AS card_brand,
        CASE lower(card_type) WHEN 'debit' THEN 0 WHEN 'credit' THEN 1 WHEN 'debit (prepaid)' THEN 2 ELSE -1 END AS card_type,
        CASE WHEN upper(merchant_state) = 'ONLINE' THEN 1 WHEN upper(merchant_state) IN ('AL', 'AK', 'AZ', 'AR', 'CA', 'CO', 'CT', 'DE', 'FL', 'GA', 'HI', 'ID', 'IL', 'IN', 'IA', 'KS', 'KY', 'LA', 'ME', 'MD', 'MA', 'MI', 'MN', 'MS', 'MO', 'MT', 'NE', 'NV', 'NH', 'NJ', 'NM', 'NY', 'NC', 'ND', 'OH', 'OK', 'OR', 'PA', 'RI', 'SC', 'SD', 'TN', 'TX', 'UT', 'VT', 'VA', 'WA', 'WV', 'WI', 'WY', 'DC') THEN 0 ELSE 2 END AS merchant_state,
        merchant_state AS merchant_state_raw,
        CASE lower(use_chip) WHEN 'swipe transaction' THEN 0 WHEN 'chip transaction' THEN 1 WHEN 'online transaction' THEN 2 ELSE -1 END AS use_chip,
        CAST(hour AS INT) AS hour,
        CASE WHEN is_refund THEN 1 ELSE 0 END AS is_refund,
        CASE WHEN is_online THEN 1 ELSE 0 END AS is_online_i,
        CASE WHEN is_abroad THEN 1 ELSE 0 END AS is_abroad_i,
        CASE WHEN has_chip THEN 1 ELSE 0 END AS has_chip,
        CASE WHEN errors LIKE '%Bad CVV%' THEN 1 ELSE 0 END AS err_bad_cvv,
        CASE WHEN errors LIKE '%Bad Card Number%' THEN 1 ELSE 0 END AS err_bad_card_number,
        CASE WHEN errors LIKE '%Bad Expiration%' THEN 1 ELSE 0 END AS err_bad_expiration,
        CASE WHEN errors LIKE '%Bad PIN%' THEN 1 ELSE 0 END AS err_bad_pin,
        CASE WHEN errors LIKE '%Insufficient Balance%' THEN 1 ELSE 0 END AS err_insufficient_balance,
        CASE WHEN has_error THEN 1 ELSE 0 END AS has_error
    FROM silver_transactions),
labels_daily AS (
    SELECT merchant_id, mcc_code, CAST(CEIL(epoch(label_known_at) / 86400) AS BIGINT) AS day_n,
           CAST(SUM(label) AS BIGINT) AS fraud_n, CAST(COUNT(label) AS BIGINT) AS labeled_n
    FROM tx WHERE label IS NOT NULL AND label_known_at IS NOT NULL
    GROUP BY merchant_id, mcc_code, CAST(CEIL(epoch(label_known_at) / 86400) AS BIGINT)),
merchant_days AS (
    SELECT merchant_id, day_n, SUM(fraud_n) AS fraud_n, SUM(labeled_n) AS labeled_n
    FROM (SELECT merchant_id, day_n, fraud_n, labeled_n FROM labels_daily
          UNION ALL SELECT DISTINCT merchant_id, day_n, 0, 0 FROM tx) AS u
    GROUP BY merchant_id, day_n),
merchant_known AS (
    SELECT merchant_id, day_n, SUM(fraud_n) OVER (PARTITION BY merchant_id ORDER BY day_n RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS fraud_known,
           SUM(labeled_n) OVER (PARTITION BY merchant_id ORDER BY day_n RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS labeled_known
    FROM merchant_days),
mcc_days AS (
    SELECT mcc_code, day_n, SUM(fraud_n) AS fraud_n, SUM(labeled_n) AS labeled_n
    FROM (SELECT mcc_code, day_n, fraud_n, labeled_n FROM labels_daily
          UNION ALL SELECT DISTINCT mcc_code, day_n, 0, 0 FROM tx) AS u
    GROUP BY mcc_code, day_n),
mcc_known AS (
    SELECT mcc_code, day_n, SUM(fraud_n) OVER (PARTITION BY mcc_code ORDER BY day_n RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS fraud_known,
           SUM(labeled_n) OVER (PARTITION BY mcc_code ORDER BY day_n RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS labeled_known
    FROM mcc_days),
global_days AS (
    SELECT day_n, SUM(fraud_n) AS fraud_n, SUM(labeled_n) AS labeled_n
    FROM (SELECT day_n, fraud_n, labeled_n FROM labels_daily
          UNION ALL SELECT DISTINCT day_n, 0, 0 FROM tx) AS u
    GROUP BY day_n),
global_known AS (
    SELECT day_n, SUM(fraud_n) OVER (ORDER BY day_n RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS fraud_known,
           SUM(labeled_n) OVER (ORDER BY day_n RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS labeled_known
    FROM global_days),
windowed_raw AS (
    SELECT tx.*,
        COUNT(*) OVER (PARTITION BY card_id ORDER BY ts_s RANGE BETWEEN 3600 PRECEDING AND 1 PRECEDING) AS card_tx_count_1h,
        COALESCE(SUM(amount) OVER (PARTITION BY card_id ORDER BY ts_s RANGE BETWEEN 3600 PRECEDING AND 1 PRECEDING), 0) AS card_amount_sum_1h,
        COUNT(*) OVER (PARTITION BY card_id ORDER BY ts_s RANGE BETWEEN 86400 PRECEDING AND 1 PRECEDING) AS card_tx_count_24h,
        COALESCE(SUM(amount) OVER (PARTITION BY card_id ORDER BY ts_s RANGE BETWEEN 86400 PRECEDING AND 1 PRECEDING), 0) AS card_amount_sum_24h,
        COUNT(*) OVER (PARTITION BY card_id ORDER BY ts_s RANGE BETWEEN 604800 PRECEDING AND 1 PRECEDING) AS card_tx_count_7d,
        COALESCE(SUM(amount) OVER (PARTITION BY card_id ORDER BY ts_s RANGE BETWEEN 604800 PRECEDING AND 1 PRECEDING), 0) AS card_amount_sum_7d,
        COUNT(*) OVER (PARTITION BY card_id ORDER BY ts_s RANGE BETWEEN 2592000 PRECEDING AND 1 PRECEDING) AS card_tx_count_30d,
        COALESCE(SUM(amount) OVER (PARTITION BY card_id ORDER BY ts_s RANGE BETWEEN 2592000 PRECEDING AND 1 PRECEDING), 0) AS card_amount_sum_30d,
        MAX(ts_s) OVER (PARTITION BY card_id ORDER BY ts_s RANGE BETWEEN 2592000 PRECEDING AND 1 PRECEDING) AS card_last_seen,
        COUNT(*) OVER (PARTITION BY client_id ORDER BY ts_s RANGE BETWEEN 3600 PRECEDING AND 1 PRECEDING) AS client_tx_count_1h,
        COALESCE(SUM(amount) OVER (PARTITION BY client_id ORDER BY ts_s RANGE BETWEEN 3600 PRECEDING AND 1 PRECEDING), 0) AS client_amount_sum_1h,
        COUNT(*) OVER (PARTITION BY client_id ORDER BY ts_s RANGE BETWEEN 86400 PRECEDING AND 1 PRECEDING) AS client_tx_count_24h,
        COALESCE(SUM(amount) OVER (PARTITION BY client_id ORDER BY ts_s RANGE BETWEEN 86400 PRECEDING AND 1 PRECEDING), 0) AS client_amount_sum_24h,
        COUNT(*) OVER (PARTITION BY client_id ORDER BY ts_s RANGE BETWEEN 604800 PRECEDING AND 1 PRECEDING) AS client_tx_count_7d,
        COALESCE(SUM(amount) OVER (PARTITION BY client_id ORDER BY ts_s RANGE BETWEEN 604800 PRECEDING AND 1 PRECEDING), 0) AS client_amount_sum_7d,
        COUNT(*) OVER (PARTITION BY client_id ORDER BY ts_s RANGE BETWEEN 2592000 PRECEDING AND 1 PRECEDING) AS client_tx_count_30d,
        COALESCE(SUM(amount) OVER (PARTITION BY client_id ORDER BY ts_s RANGE BETWEEN 2592000 PRECEDING AND 1 PRECEDING), 0) AS client_amount_sum_30d,
        MAX(ts_s) OVER (PARTITION BY client_id ORDER BY ts_s RANGE BETWEEN 2592000 PRECEDING AND 1 PRECEDING) AS client_last_seen,
        STDDEV_SAMP(amount) OVER (PARTITION BY client_id ORDER BY ts_s RANGE BETWEEN 2592000 PRECEDING AND 1 PRECEDING) AS client_amount_std_30d,
        COUNT(*) OVER (PARTITION BY client_id, merchant_id ORDER BY ts_s RANGE BETWEEN 2592000 PRECEDING AND 1 PRECEDING) AS prior_at_merchant,
        COUNT(*) OVER (PARTITION BY client_id, merchant_state_raw ORDER BY ts_s RANGE BETWEEN 2592000 PRECEDING AND 1 PRECEDING) AS prior_in_state,
        COALESCE(SUM(is_abroad_i) OVER (PARTITION BY client_id ORDER BY ts_s RANGE BETWEEN 2592000 PRECEDING AND 1 PRECEDING), 0) AS prior_abroad,
        COALESCE(SUM(is_online_i) OVER (PARTITION BY client_id ORDER BY ts_s RANGE BETWEEN 2592000 PRECEDING AND 1 PRECEDING), 0) AS prior_online
    FROM tx),
windowed AS (
    -- the mean from the 30-day sum and count already computed: one window aggregate less
    SELECT *, client_amount_sum_30d / NULLIF(client_tx_count_30d, 0) AS client_amount_mean_30d
    FROM windowed_raw),
global_rate AS (
    SELECT day_n, CASE WHEN labeled_known > 0 THEN CAST(fraud_known AS DOUBLE) / labeled_known
                       ELSE 0.0 END AS rate
    FROM global_known)
SELECT w.transaction_id, w.ts, w.tx_date, w.card_id, w.client_id, w.merchant_id, w.label,
    w.amount, w.card_brand, w.card_type, w.merchant_state, w.use_chip, w.credit_limit, w.per_capita_income, w.yearly_income, w.total_debt, w.credit_score, w.num_credit_cards,
    w.hour, w.is_refund, w.is_online_i AS is_online, w.is_abroad_i AS is_abroad, w.has_chip,
    w.err_bad_cvv, w.err_bad_card_number, w.err_bad_expiration, w.err_bad_pin, w.err_insufficient_balance, w.has_error,
    w.card_tx_count_1h AS card_tx_count_1h,
    w.card_amount_sum_1h AS card_amount_sum_1h,
    w.card_tx_count_24h AS card_tx_count_24h,
    w.card_amount_sum_24h AS card_amount_sum_24h,
    w.card_tx_count_7d AS card_tx_count_7d,
    w.card_amount_sum_7d AS card_amount_sum_7d,
    w.card_tx_count_30d AS card_tx_count_30d,
    w.card_amount_sum_30d AS card_amount_sum_30d,
    w.client_tx_count_1h AS client_tx_count_1h,
    w.client_amount_sum_1h AS client_amount_sum_1h,
    w.client_tx_count_24h AS client_tx_count_24h,
    w.client_amount_sum_24h AS client_amount_sum_24h,
    w.client_tx_count_7d AS client_tx_count_7d,
    w.client_amount_sum_7d AS client_amount_sum_7d,
    w.client_tx_count_30d AS client_tx_count_30d,
    w.client_amount_sum_30d AS client_amount_sum_30d,
    w.client_amount_mean_30d AS client_amount_mean_30d,
    w.client_amount_std_30d AS client_amount_std_30d,
    w.amount / NULLIF(w.client_amount_mean_30d, 0) AS amount_to_client_mean_30d,
    (w.amount - w.client_amount_mean_30d) / NULLIF(w.client_amount_std_30d, 0) AS amount_zscore_client_30d,
    COALESCE(w.ts_s - w.card_last_seen, 2592000) AS seconds_since_prev_card,
    COALESCE(w.ts_s - w.client_last_seen, 2592000) AS seconds_since_prev_client,
    CASE WHEN w.prior_at_merchant = 0 THEN 1 ELSE 0 END AS is_new_merchant,
    CASE WHEN w.prior_in_state = 0 THEN 1 ELSE 0 END AS is_new_state,
    CASE WHEN w.is_abroad_i = 1 AND COALESCE(w.prior_abroad, 0) = 0 THEN 1 ELSE 0 END AS is_first_abroad,
    CASE WHEN w.is_online_i = 1 AND COALESCE(w.prior_online, 0) = 0 THEN 1 ELSE 0 END AS is_first_online,
    (COALESCE(m.fraud_known, 0) + 50 * g.rate) / (COALESCE(m.labeled_known, 0) + 50) AS merchant_fraud_risk,
    CAST(COALESCE(m.labeled_known, 0) AS BIGINT) AS merchant_labels_known,
    (COALESCE(c.fraud_known, 0) + 50 * g.rate) / (COALESCE(c.labeled_known, 0) + 50) AS mcc_fraud_risk,
    g.rate AS global_fraud_rate
FROM windowed AS w
JOIN global_rate AS g ON g.day_n = w.day_n
LEFT JOIN merchant_known AS m ON m.merchant_id = w.merchant_id AND m.day_n = w.day_n
LEFT JOIN mcc_known AS c ON c.mcc_code = w.mcc_code AND c.day_n = w.day_n
