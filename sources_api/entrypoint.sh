#!/usr/bin/env bash
# Container entrypoint of sources_api: make sure the source DB has its table, then serve.
#
# The database (LAKEHOUSE_SOURCE_DB_URL, PostgreSQL in containers) may still be starting when
# this container starts, so the schema step retries for a while before giving up with a
# message; extra arguments are passed on to `lakehouse serve sources-api`.
set -euo pipefail

attempts="${SOURCES_API_DB_WAIT_ATTEMPTS:-30}"

ensure_schema() {
  python - <<'PY'
import sys

from lakehouse.config import ConfigurationError, get_settings
from lakehouse.sources.schema import ensure_schema, source_engine

try:
    engine = source_engine(get_settings().source_db_url)
except ConfigurationError as exc:  # names the variable, never its value; retrying won't help
    sys.exit(f"sources_api: configuration error: {exc}")
try:
    ensure_schema(engine)
except Exception as exc:  # one line per attempt, not a traceback
    sys.exit(f"sources_api: {str(getattr(exc, 'orig', exc)).splitlines()[0]}")
finally:
    engine.dispose()
PY
}

for attempt in $(seq 1 "$attempts"); do
  if ensure_schema; then
    break
  fi
  if [ "$attempt" -eq "$attempts" ]; then
    echo "sources_api: the source DB is unreachable after $attempts attempts;" \
      "check LAKEHOUSE_SOURCE_DB_URL and that the database is up" >&2
    exit 1
  fi
  echo "sources_api: source DB not ready (attempt $attempt/$attempts), retrying in 2 s" >&2
  sleep 2
done

exec lakehouse serve sources-api --host 0.0.0.0 "$@"
