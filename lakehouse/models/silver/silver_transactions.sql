-- Deduplication ranks only the ids that repeat: a window over every row would double the cost
-- of the stage for the rare resent row (bronze_transactions is therefore read three times).
WITH repeated AS (
    -- ids present more than once in these batches (usually none: a resent file, a replay)
    SELECT id FROM bronze_transactions GROUP BY id HAVING COUNT(*) > 1
),

first_of_repeated AS (
    -- only the repeated ids pay for a ranking; the first copy by situation_date wins
    SELECT
        b.id, b.date, b.client_id, b.card_id, b.amount, b.use_chip, b.merchant_id,
        b.merchant_city, b.merchant_state, b.zip, b.mcc, b.errors, b.situation_date,
        ROW_NUMBER() OVER (
            PARTITION BY b.id ORDER BY b.situation_date, b.date, b.amount, b.merchant_id
        ) AS copy_rank
    FROM bronze_transactions AS b
    WHERE EXISTS (SELECT 1 FROM repeated AS r WHERE r.id = b.id)
),

deduplicated AS (
    SELECT
        b.id, b.date, b.client_id, b.card_id, b.amount, b.use_chip, b.merchant_id,
        b.merchant_city, b.merchant_state, b.zip, b.mcc, b.errors, b.situation_date
    FROM bronze_transactions AS b
    WHERE NOT EXISTS (SELECT 1 FROM repeated AS r WHERE r.id = b.id)
    UNION ALL
    SELECT
        f.id, f.date, f.client_id, f.card_id, f.amount, f.use_chip, f.merchant_id,
        f.merchant_city, f.merchant_state, f.zip, f.mcc, f.errors, f.situation_date
    FROM first_of_repeated AS f
    WHERE f.copy_rank = 1
),

fresh AS (
    -- ids silver already holds for other situation_dates are not new
    SELECT d.*
    FROM deduplicated AS d
    WHERE NOT EXISTS (
        SELECT 1 FROM known_transaction_ids AS k WHERE k.transaction_id = d.id
    )
),

typed AS (
    SELECT
        CAST(f.id AS BIGINT) AS transaction_id,
        CAST(f.date AS TIMESTAMP) AS ts,
        CAST(f.situation_date AS DATE) AS situation_date,
        CAST(f.client_id AS BIGINT) AS client_id,
        CAST(f.card_id AS BIGINT) AS card_id,
        -- '$-77.00' -> -77.0 (a thousands separator, if any, goes too)
        CAST(replace(replace(f.amount, '$', ''), ',', '') AS DOUBLE) AS amount,
        f.use_chip,
        CAST(f.merchant_id AS BIGINT) AS merchant_id,
        f.merchant_city,
        NULLIF(trim(f.merchant_state), '') AS raw_state,
        NULLIF(trim(f.zip), '') AS raw_zip,
        CAST(f.mcc AS INT) AS mcc_code,
        NULLIF(trim(f.errors), '') AS raw_errors
    FROM fresh AS f
)

SELECT
    t.transaction_id,
    t.ts,
    -- row-level derivations: one definition shared with scoring (lakehouse/features/derivations.py)
    {{ derived: tx_date }} AS tx_date,
    {{ derived: hour }} AS hour,
    t.situation_date,
    t.client_id,
    t.card_id,
    t.amount,
    {{ derived: is_refund }} AS is_refund,
    t.use_chip,
    t.merchant_id,
    t.merchant_city,
    {{ derived: merchant_state }} AS merchant_state,
    {{ derived: zip }} AS zip,
    t.mcc_code,
    m.mcc_description,
    {{ derived: errors }} AS errors,
    {{ derived: has_error }} AS has_error,
    {{ derived: is_online }} AS is_online,
    {{ derived: is_abroad }} AS is_abroad,
    {{ derived: is_night }} AS is_night,
    {{ derived: is_weekend }} AS is_weekend,
    CAST(CASE l.target WHEN 'Yes' THEN 1 WHEN 'No' THEN 0 END AS INT) AS label,
    -- reference_file or analyst_review (docs/cases.md); bronze_fraud_labels.label_known_at
    -- holds when an analyst's label became known, for silver's label_known_at
    CASE WHEN l.target IN ('Yes', 'No') THEN l.label_source END AS label_source,
    -- when the label became known: an analyst's recording time, or for a reference-file label
    -- the label delay after the transaction (docs/scoring.md); every "known label" rule
    -- compares this column
    CASE
        WHEN l.target IN ('Yes', 'No')
            THEN COALESCE(l.label_known_at, t.ts + INTERVAL {label_delay_days} DAY)
    END AS label_known_at,
    c.card_brand,
    c.card_type,
    c.has_chip,
    c.num_cards_issued,
    c.credit_limit,
    c.card_on_dark_web,
    c.acct_open_date,
    u.current_age,
    u.gender,
    u.latitude,
    u.longitude,
    u.per_capita_income,
    u.yearly_income,
    u.total_debt,
    u.credit_score,
    u.num_credit_cards
FROM typed AS t
LEFT JOIN silver_cards AS c ON t.card_id = c.card_id
LEFT JOIN silver_users AS u ON t.client_id = u.client_id
LEFT JOIN bronze_mcc_codes AS m ON t.mcc_code = m.mcc_code
LEFT JOIN bronze_fraud_labels AS l ON t.transaction_id = l.transaction_id
