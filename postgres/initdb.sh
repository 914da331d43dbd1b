#!/usr/bin/env bash
# Creates the platform's databases and roles on the first start of the PostgreSQL container.
#
# Mounted as /docker-entrypoint-initdb.d/10-lakehouse.sh: the official image runs it once,
# on an empty data directory, as the superuser. Passwords come from the container's
# environment (docker-compose.yml, from .env) and reach init.sql as psql variables, so
# neither file in the repository holds a secret. Also usable by hand against any server:
#   PGHOST=... PGUSER=postgres SOURCE_DB_PASSWORD=... ./postgres/initdb.sh
set -euo pipefail

: "${SOURCE_DB_PASSWORD:?SOURCE_DB_PASSWORD must be set (see .env.example)}"
: "${PIPELINE_DB_PASSWORD:?PIPELINE_DB_PASSWORD must be set (see .env.example)}"
: "${ANALYTICS_READER_PASSWORD:?ANALYTICS_READER_PASSWORD must be set (see .env.example)}"
: "${MLFLOW_DB_PASSWORD:?MLFLOW_DB_PASSWORD must be set (see .env.example)}"

INIT_SQL="${LAKEHOUSE_INIT_SQL:-/opt/lakehouse/init.sql}"

psql --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
  --set source_db="${SOURCE_DB_NAME:-lakehouse_source}" \
  --set analytics_db="${ANALYTICS_DB_NAME:-lakehouse_analytics}" \
  --set mlflow_db="${MLFLOW_DB_NAME:-mlflow}" \
  --set source_role="${SOURCE_DB_ROLE:-source_app}" \
  --set pipeline_role="${PIPELINE_DB_ROLE:-pipeline}" \
  --set reader_role="${ANALYTICS_READER_ROLE:-analytics_reader}" \
  --set mlflow_role="${MLFLOW_DB_ROLE:-mlflow}" \
  --set source_password="$SOURCE_DB_PASSWORD" \
  --set pipeline_password="$PIPELINE_DB_PASSWORD" \
  --set reader_password="$ANALYTICS_READER_PASSWORD" \
  --set mlflow_password="$MLFLOW_DB_PASSWORD" \
  --file "$INIT_SQL"
