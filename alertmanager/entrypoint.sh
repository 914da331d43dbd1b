#!/bin/sh
# Start Alertmanager with alertmanager.yml completed from the environment.
#
# The repository holds no SMTP host, sender, recipient, webhook URL or password: this script
# substitutes the __PLACEHOLDERS__ of alertmanager.yml with SMTP_SMARTHOST, SMTP_FROM,
# SMTP_USERNAME, ALERT_EMAIL_TO and ALERT_WEBHOOK_URL, writes SMTP_PASSWORD to a file only
# this process can read (never into the rendered config), then execs Alertmanager with any
# extra arguments. tests/ops/test_alertmanager.py runs this same script.
#   usage: entrypoint.sh [alertmanager flags...]   (ALERTMANAGER_BIN picks the binary)
set -eu

: "${SMTP_SMARTHOST:?set SMTP_SMARTHOST (host:port of the mail relay)}"
: "${SMTP_FROM:?set SMTP_FROM (sender address of alert mails)}"
: "${ALERT_EMAIL_TO:?set ALERT_EMAIL_TO (who receives critical alerts)}"
: "${ALERT_WEBHOOK_URL:?set ALERT_WEBHOOK_URL (where every alert is posted)}"
SOURCE="${ALERTMANAGER_CONFIG:-/etc/alertmanager/alertmanager.yml}"
WORK="${ALERTMANAGER_WORK_DIR:-/tmp/alertmanager}"

# Escape what sed would read as syntax in a replacement: backslash, the | delimiter and &.
escape() {
  printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'
}

mkdir -p "$WORK"
umask 077
printf '%s' "${SMTP_PASSWORD:-}" >"$WORK/smtp_password"
sed -e "s|__SMTP_SMARTHOST__|$(escape "$SMTP_SMARTHOST")|g" \
  -e "s|__SMTP_FROM__|$(escape "$SMTP_FROM")|g" \
  -e "s|__SMTP_USERNAME__|$(escape "${SMTP_USERNAME:-}")|g" \
  -e "s|__ALERT_EMAIL_TO__|$(escape "$ALERT_EMAIL_TO")|g" \
  -e "s|__ALERT_WEBHOOK_URL__|$(escape "$ALERT_WEBHOOK_URL")|g" \
  -e "s|/tmp/alertmanager/smtp_password|$WORK/smtp_password|g" \
  "$SOURCE" >"$WORK/alertmanager.yml"

exec "${ALERTMANAGER_BIN:-/bin/alertmanager}" --config.file="$WORK/alertmanager.yml" "$@"
