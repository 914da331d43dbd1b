SELECT
    CAST(id AS BIGINT) AS client_id,
    CAST(current_age AS INT) AS current_age,
    CAST(retirement_age AS INT) AS retirement_age,
    CAST(birth_year AS INT) AS birth_year,
    CAST(birth_month AS INT) AS birth_month,
    gender,
    CAST(latitude AS DOUBLE) AS latitude,
    CAST(longitude AS DOUBLE) AS longitude,
    CAST(replace(replace(per_capita_income, '$', ''), ',', '') AS DOUBLE) AS per_capita_income,
    CAST(replace(replace(yearly_income, '$', ''), ',', '') AS DOUBLE) AS yearly_income,
    CAST(replace(replace(total_debt, '$', ''), ',', '') AS DOUBLE) AS total_debt,
    CAST(credit_score AS INT) AS credit_score,
    CAST(num_credit_cards AS INT) AS num_credit_cards
FROM bronze_users
