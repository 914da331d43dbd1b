"""Write the Grafana dashboards of `grafana/dashboards/` from the panel lists below.

Grafana provisions the JSON files (see grafana/provisioning/dashboards); this script is how
they are produced, so a panel is one line here instead of eighty lines of JSON. Run it after
changing a panel: `.venv/bin/python scripts/build_dashboards.py`, and commit both files.
The PromQL and SQL here are what tests/ops runs against a real Prometheus and PostgreSQL.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "grafana" / "dashboards"
PROM = {"type": "prometheus", "uid": "prometheus"}
SQL = {"type": "grafana-postgresql-datasource", "uid": "analytics"}
ES_LOGS = {"type": "elasticsearch", "uid": "es-logs"}
ES_PREDICTIONS = {"type": "elasticsearch", "uid": "es-predictions"}
SERVICES = 'service=~"sources_api|api|api_ml"'

# Riskiest clients: enough labeled purchases to trust the rate, then most frauds first.
RISKIEST_CLIENTS_SQL = """SELECT f.client_id, f.tx_count, f.labeled_count, f.fraud_count,
       round(f.fraud_rate::numeric, 4) AS fraud_rate, round(f.avg_amount::numeric, 2) AS avg_amount,
       f.unique_merchants, v.active_days, round(v.avg_daily_txn::numeric, 2) AS avg_daily_txn,
       v.max_daily_txn
FROM dm_client_features AS f
LEFT JOIN dm_client_velocity AS v ON v.client_id = f.client_id
WHERE f.labeled_count >= 20 AND f.fraud_count > 0
ORDER BY f.fraud_rate DESC, f.fraud_count DESC
LIMIT 25"""

MCC_SQL = """SELECT coalesce(mcc_description, mcc_code::text) AS merchant_category,
       fraud_rate, fraud_count, labeled_count
FROM dm_mcc_fraud_risk
WHERE labeled_count >= 50 AND fraud_rate IS NOT NULL
ORDER BY fraud_rate DESC
LIMIT 20"""

HOUR_SQL = """SELECT lpad(hour::text, 2, '0') || 'h' AS hour_of_day,
       fraud_rate, tx_count, fraud_count
FROM dm_time_of_day_fraud
ORDER BY hour"""

TOTALS_SQL = """SELECT sum(tx_count) AS purchases, sum(labeled_count) AS labeled,
       sum(fraud_count) AS frauds,
       sum(fraud_count)::double precision / nullif(sum(labeled_count), 0) AS fraud_rate
FROM dm_time_of_day_fraud"""

CARD_TYPE_SQL = """SELECT card_type, sum(tx_count) AS purchases, sum(fraud_count) AS frauds,
       sum(fraud_count)::double precision / nullif(sum(labeled_count), 0) AS fraud_rate
FROM dm_card_features
GROUP BY card_type
ORDER BY fraud_rate DESC NULLS LAST"""

PUBLISH_SQL = """SELECT table_name, max(published_at) AS last_published,
       (array_agg(row_count ORDER BY published_at DESC))[1] AS row_count,
       (array_agg(lake_version ORDER BY published_at DESC))[1] AS lake_version
FROM publish_log
GROUP BY table_name
ORDER BY table_name"""


def prom(expr: str, legend: str = "") -> dict:
    return {"datasource": PROM, "expr": expr, "legendFormat": legend, "refId": "A"}


def sql(query: str) -> dict:
    return {"datasource": SQL, "rawSql": query, "format": "table", "rawQuery": True,
            "editorMode": "code", "refId": "A"}


def panel(title: str, kind: str, targets: list[dict], grid: tuple[int, int, int, int],
          unit: str = "short", description: str = "", **options: object) -> dict:
    x, y, w, h = grid
    for index, target in enumerate(targets):
        target["refId"] = chr(ord("A") + index)
    return {
        "title": title, "type": kind, "description": description,
        "datasource": targets[0]["datasource"],
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": options, "targets": targets,
    }


def es_logs(query: str) -> dict:
    return {"datasource": ES_LOGS, "query": query, "refId": "A",
            "metrics": [{"id": "1", "type": "logs"}], "bucketAggs": [], "timeField": "@timestamp"}


def es_raw(query: str) -> dict:
    return {"datasource": ES_PREDICTIONS, "query": query, "refId": "A",
            "metrics": [{"id": "1", "type": "raw_data", "settings": {"size": "100"}}],
            "bucketAggs": [], "timeField": "@timestamp"}


def dashboard(uid: str, title: str, description: str, panels: list[dict]) -> dict:
    for number, item in enumerate(panels, start=1):
        item["id"] = number
    return {
        "uid": uid, "title": title, "description": description, "tags": ["lakehouse"],
        "editable": False, "schemaVersion": 39, "version": 1, "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"}, "timezone": "utc",
        "templating": {"list": []}, "annotations": {"list": []}, "panels": panels,
    }


def platform_health() -> dict:
    rate = "[$__rate_interval]"
    return dashboard("lakehouse-platform", "Lakehouse — platform health",
                     "Service availability, API traffic, errors and latency, pipeline stages.", [
        panel("Targets up", "stat", [prom('up{job=~"sources_api|api|api_ml|pipeline"}', "{{job}}")],
              (0, 0, 24, 4), description="1 = scraped successfully."),
        panel("Requests per second by route", "timeseries",
              [prom(f"sum by (service, route) (rate(http_requests_total{{{SERVICES}}}{rate}))",
                    "{{service}} {{route}}")], (0, 4, 12, 8), "reqps"),
        panel("5xx error ratio by service", "timeseries",
              [prom(f'sum by (service) (rate(http_requests_total{{status=~"5.."}}{rate})) / '
                    f"sum by (service) (rate(http_requests_total{rate}))", "{{service}}")],
              (12, 4, 12, 8), "percentunit"),
        panel("p99 latency by service", "timeseries",
              [prom("histogram_quantile(0.99, sum by (service, le) "
                    f"(rate(http_request_duration_seconds_bucket{rate})))", "{{service}} p99"),
               prom("histogram_quantile(0.5, sum by (service, le) "
                    f"(rate(http_request_duration_seconds_bucket{rate})))", "{{service}} p50")],
              (0, 12, 12, 8), "s"),
        panel("4xx per second by service", "timeseries",
              [prom(f'sum by (service, status) (rate(http_requests_total{{status=~"4.."}}{rate}))',
                    "{{service}} {{status}}")], (12, 12, 12, 8), "reqps"),
        panel("Pipeline stage mean duration (1h)", "timeseries",
              [prom("sum by (stage) (increase(pipeline_stage_duration_seconds_sum[1h])) / "
                    "sum by (stage) (increase(pipeline_stage_duration_seconds_count[1h]))",
                    "{{stage}}")], (0, 20, 12, 8), "s"),
        panel("Pipeline stage runs by status (1h)", "bargauge",
              [prom("sum by (stage, status) (increase(pipeline_stage_status_total[1h]))",
                    "{{stage}} {{status}}")], (12, 20, 12, 8)),
        panel("Rows processed per second", "timeseries",
              [prom(f"sum by (stage, direction) (rate(pipeline_rows_processed_total{rate}))",
                    "{{stage}} {{direction}}")], (0, 28, 12, 8), "short"),
        panel("Time since last success by stage", "bargauge",
              [prom("time() - pipeline_last_success_timestamp_seconds", "{{stage}}")],
              (12, 28, 12, 8), "s"),
        panel("Pipeline and service errors (Elasticsearch)", "logs",
              [es_logs("level:ERROR OR level:CRITICAL")], (0, 36, 24, 10)),
    ])


def fraud_analytics() -> dict:
    return dashboard("lakehouse-fraud", "Lakehouse — fraud analytics",
                     "Published datamarts (analytics DB): where and when fraud happens, who is "
                     "riskiest. Rates count labeled purchases only.", [
        panel("Purchases, labels and frauds", "stat", [sql(TOTALS_SQL)], (0, 0, 24, 4)),
        panel("Fraud rate by merchant category (top 20, ≥ 50 labeled)", "barchart",
              [sql(MCC_SQL)], (0, 4, 12, 12), "percentunit", orientation="horizontal",
              xField="merchant_category"),
        panel("Fraud rate by hour of day", "barchart", [sql(HOUR_SQL)], (12, 4, 12, 12),
              "percentunit", xField="hour_of_day"),
        panel("Riskiest clients", "table", [sql(RISKIEST_CLIENTS_SQL)], (0, 16, 16, 12)),
        panel("Fraud rate by card type", "table", [sql(CARD_TYPE_SQL)], (16, 16, 8, 12)),
        panel("Datamart freshness (publish_log)", "table", [sql(PUBLISH_SQL)], (0, 28, 24, 6)),
    ])


def model_monitoring() -> dict:
    rate = "[$__rate_interval]"
    mean = ("sum(rate(api_ml_fraud_probability_sum[{w}])) / "
            "sum(rate(api_ml_fraud_probability_count[{w}]))")
    high = ('sum(rate(api_ml_fraud_probability_bucket{{le="0.5"}}[{w}])) / '
            "sum(rate(api_ml_fraud_probability_count[{w}]))")
    return dashboard("lakehouse-model", "Lakehouse — model monitoring",
                     "What the scoring API hands out: score distribution, decisions, drift of "
                     "the score against the last week, latency and the model version.", [
        panel("Score distribution (selected range)", "bargauge",
              [prom("sum by (le) (increase(api_ml_fraud_probability_bucket[$__range]))",
                    "≤ {{le}}")],
              (0, 0, 12, 8), description="Cumulative counts per upper bound of the score."),
        panel("Decisions per second", "timeseries",
              [prom(f"sum by (decision) (rate(api_ml_decisions_total{rate}))", "{{decision}}")],
              (12, 0, 12, 8), "ops"),
        panel("Share of fraud decisions", "timeseries",
              [prom(f'sum(rate(api_ml_decisions_total{{decision="fraud"}}{rate})) / '
                    f"sum(rate(api_ml_decisions_total{rate}))", "fraud share")],
              (0, 8, 12, 8), "percentunit"),
        panel("Score drift: mean score, 1h against 7d", "timeseries",
              [prom(f"({mean.format(w='1h')}) / ({mean.format(w='7d')})", "mean ratio"),
               prom(f"(1 - {high.format(w='1h')}) / (1 - {high.format(w='7d')})",
                    "share above 0.5, ratio")],
              (12, 8, 12, 8), "short",
              description="1 = no drift; the FraudRateJump alert fires on decisions tripling."),
        panel("Model latency p99 by flavour", "timeseries",
              [prom("histogram_quantile(0.99, sum by (flavour, le) "
                    f"(rate(api_ml_prediction_seconds_bucket{rate})))", "{{flavour}}")],
              (0, 16, 12, 8), "s"),
        panel("/predict p99 (HTTP)", "timeseries",
              [prom("histogram_quantile(0.99, sum by (le) (rate("
                    'http_request_duration_seconds_bucket{service="api_ml", route=~"/predict.*"}'
                    f"{rate})))", "p99")],
              (12, 16, 12, 8), "s"),
        panel("Model version served", "table",
              [prom("max by (flavour, name, version) (api_ml_model_info)", "")], (0, 24, 12, 6)),
        panel("Model reloads (24h)", "stat",
              [prom("sum by (outcome) (increase(api_ml_model_reloads_total[24h]))", "{{outcome}}")],
              (12, 24, 12, 6)),
        panel("Latest audited predictions (Elasticsearch)", "table",
              [es_raw("is_fraud:true")], (0, 30, 24, 10)),
    ])


def model_health() -> dict:
    age = "time() - {}"
    return dashboard("lakehouse-model-health", "Lakehouse — model health",
                     "Is the model still looking at the world it learned? Drift of its inputs "
                     "and score (PSI against the training bins) and the freshness of its data. "
                     "Thresholds and alerts: docs/monitoring.md.", [
        panel("Most drifted inputs (PSI, now)", "bargauge",
              [prom("topk(10, max by (flavour, feature) (api_ml_drift_psi))",
                    "{{flavour}} {{feature}}")], (0, 0, 12, 9),
              description="PSI < 0.1 stable, 0.1-0.25 moderate, > 0.25 significant "
                          "(FeatureDrift alert).", orientation="horizontal"),
        panel("Score PSI by flavour", "timeseries",
              [prom('max by (flavour) (api_ml_drift_psi{feature="fraud_probability"})',
                    "{{flavour}}")], (12, 0, 12, 9),
              description="Drift of the score itself against the test window at training."),
        panel("PSI of every input over time", "timeseries",
              [prom("max by (flavour, feature) (api_ml_drift_psi)", "{{flavour}} {{feature}}")],
              (0, 9, 24, 9)),
        panel("Drift window (scored transactions)", "stat",
              [prom("max by (flavour) (api_ml_drift_window_rows)", "{{flavour}}")],
              (0, 18, 8, 5), description="No PSI below LAKEHOUSE_DRIFT_MIN_ROWS rows."),
        panel("Monitor batches dropped (1h)", "stat",
              [prom("sum(increase(api_ml_monitor_dropped_total[1h]))", "dropped")],
              (8, 18, 8, 5), description="Batches skipped because the monitor queue was full."),
        panel("Champion age", "stat",
              [prom(age.format("max by (flavour) (api_ml_model_trained_timestamp_seconds)"),
                    "{{flavour}}")], (16, 18, 8, 5), "s",
              description="ChampionModelOld alert after 30 days."),
        panel("Online/offline skew by feature", "bargauge",
              [prom("topk(10, max by (feature) (pipeline_feature_skew_ratio))", "{{feature}}")],
              (0, 39, 12, 8), "percentunit", orientation="horizontal",
              description="Share of sampled scoring-time values differing from gold "
                          "(FeatureSkew alert above 0). `lakehouse monitor skew` names the rows."),
        panel("Feature samples compared with gold", "stat",
              [prom("max(pipeline_feature_skew_rows)", "rows")], (12, 39, 12, 8)),
        panel("Shadow challenger: transactions scored per second", "timeseries",
              [prom("sum by (flavour) (rate(api_ml_shadow_scored_total[$__rate_interval]))",
                    "{{flavour}}")], (0, 47, 24, 7), "ops",
              description="The registered challenger scores live requests in the background; "
                          "`lakehouse monitor shadow-report` compares it with the champion."),
        panel("Age of the newest transaction", "timeseries",
              [prom(age.format("max(api_ml_online_newest_transaction_timestamp_seconds)"),
                    "online state"),
               prom(age.format("max(pipeline_gold_newest_transaction_timestamp_seconds)"),
                    "gold ml_features")], (0, 23, 12, 8), "s",
              description="OnlineStateStale / GoldStale alerts after 26 hours."),
        panel("Lake behind the source system", "timeseries",
              [prom("max(pipeline_source_watermark_lag_seconds)", "watermark lag")],
              (12, 23, 12, 8), "s", description="SourceWatermarkLag alert above one day."),
        panel("Share of recent transactions with a known label", "timeseries",
              [prom("max(pipeline_recent_label_known_ratio)", "last 30 days"),
               prom("avg_over_time(pipeline_recent_label_known_ratio[7d])", "7-day average")],
              (0, 31, 24, 8), "percentunit",
              description="LabelCoverageLow alert below half the 7-day average."),
    ])


def case_queue() -> dict:
    return dashboard("lakehouse-cases", "Lakehouse — case queue",
                     "The fraud analysts' queue: what waits, for how long, who decides and how "
                     "often a reviewed alert is real fraud (docs/cases.md).", [
        panel("Active cases by state", "stat",
              [prom('sum by (state) (api_ml_cases{state=~"open|assigned|escalated"})',
                    "{{state}}")],
              (0, 0, 8, 6)),
        panel("Oldest active case vs SLA", "timeseries",
              [prom("max(api_ml_case_oldest_active_age_seconds)", "oldest active case"),
               prom("max(api_ml_case_sla_seconds)", "SLA")],
              (8, 0, 16, 6), "s", description="The CaseQueueOverSla alert fires above the SLA."),
        panel("Decisions per analyst", "bargauge",
              [prom("sum by (analyst, outcome) (api_ml_case_decisions)",
                    "{{analyst}} {{outcome}}")],
              (0, 6, 12, 8)),
        panel("Precision of reviewed alerts", "timeseries",
              [prom("max(api_ml_case_review_precision)", "confirmed fraud / closed")],
              (12, 6, 12, 8), "percentunit"),
        panel("Review capacity used (last 24 h)", "gauge",
              [prom("max(api_ml_case_capacity_used_ratio)", "capacity used")],
              (0, 14, 12, 6), "percentunit"),
        panel("Cases waiting in the outbox", "timeseries",
              [prom("sum(api_ml_case_outbox_pending)", "pending")],
              (12, 14, 12, 6), description="Non-zero while the analytics DB is unreachable."),
    ])


BUILDERS = {
    "platform-health": platform_health,
    "fraud-analytics": fraud_analytics,
    "model-monitoring": model_monitoring,
    "model-health": model_health,
    "case-queue": case_queue,
}


def main() -> None:
    """Write the dashboards; with `--check`, only verify the committed files are current."""
    check = "--check" in sys.argv[1:]
    OUT.mkdir(parents=True, exist_ok=True)
    stale = []
    for name, build in BUILDERS.items():
        path = OUT / f"{name}.json"
        text = json.dumps(build(), indent=2, ensure_ascii=False) + "\n"
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
            continue
        path.write_text(text)
        sys.stdout.write(f"wrote {path}\n")
    if stale:
        sys.stderr.write(f"out of date: {', '.join(stale)}; run scripts/build_dashboards.py\n")
        raise SystemExit(1)
    if check:
        sys.stdout.write("dashboards are up to date\n")


if __name__ == "__main__":
    main()
