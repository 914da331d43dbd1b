"""URLs in logs and messages keep their user but not their password."""

from __future__ import annotations

from lakehouse.observability.redact import redact_url


def test_urls_in_logs_have_their_password_masked() -> None:
    assert redact_url("http://elastic:pw-123@es:9200") == "http://elastic:***@es:9200"
    assert redact_url("postgresql://u:p@db:5432/mlflow") == "postgresql://u:***@db:5432/mlflow"
    assert redact_url("http://mlflow:5000") == "http://mlflow:5000"
    assert redact_url("sqlite:////data/mlflow.db") == "sqlite:////data/mlflow.db"
