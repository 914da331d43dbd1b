"""The datamarts API: the published gold datamarts of the analytics DB, served over HTTP.

Entry point `api.fastapi_app.create_app()`; started by `lakehouse serve api` (port 9999).
"""
