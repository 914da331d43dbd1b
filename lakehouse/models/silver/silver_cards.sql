SELECT
    CAST(id AS BIGINT) AS card_id,
    CAST(client_id AS BIGINT) AS client_id,
    card_brand,
    card_type,
    card_number_hash,
    card_last4,
    -- 'MM/YYYY' -> the first day of that month (NULL stays NULL)
    make_date(CAST(substr(expires, 4, 4) AS INT), CAST(substr(expires, 1, 2) AS INT), 1)
        AS expires,
    CASE upper(has_chip) WHEN 'YES' THEN TRUE WHEN 'NO' THEN FALSE END AS has_chip,
    CAST(num_cards_issued AS INT) AS num_cards_issued,
    CAST(replace(replace(credit_limit, '$', ''), ',', '') AS DOUBLE) AS credit_limit,
    make_date(
        CAST(substr(acct_open_date, 4, 4) AS INT), CAST(substr(acct_open_date, 1, 2) AS INT), 1
    ) AS acct_open_date,
    CAST(year_pin_last_changed AS INT) AS year_pin_last_changed,
    CASE upper(card_on_dark_web) WHEN 'YES' THEN TRUE WHEN 'NO' THEN FALSE END AS card_on_dark_web
FROM bronze_cards
