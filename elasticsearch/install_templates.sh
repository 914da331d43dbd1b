#!/bin/sh
# Installs (or updates) the index templates of elasticsearch/templates/ into Elasticsearch.
#
# Run by the one-shot `elasticsearch_init` service of docker-compose.yml once Elasticsearch is
# healthy, before any log or prediction document arrives, so the first daily index already
# gets the right mappings. Idempotent: PUT replaces a template with the same name. By hand:
#   ELASTICSEARCH_URL=http://127.0.0.1:9200 sh elasticsearch/install_templates.sh
set -eu

url="${ELASTICSEARCH_URL:?set ELASTICSEARCH_URL, e.g. http://127.0.0.1:9200}"
here="$(cd "$(dirname "$0")" && pwd)"

for template in "$here"/templates/*.json; do
  name="$(basename "$template" .json)"
  echo "installing index template $name"
  curl -fsS -X PUT "$url/_index_template/$name" \
    -H 'Content-Type: application/json' --data-binary "@$template"
  echo
done
echo "index templates installed"
