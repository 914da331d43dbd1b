"""Metrics, structured logs and log shipping shared by the pipeline and every HTTP service."""
