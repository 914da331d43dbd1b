"""The routers of the datamarts API, gathered by `api.fastapi_app.create_app`."""
