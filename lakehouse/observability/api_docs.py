"""Interactive API docs that work offline: Swagger UI and ReDoc served by the service itself.

FastAPI's default `/docs` and `/redoc` pages load their JavaScript, CSS, favicon and fonts
from a CDN, so on a host without internet access they stay blank. `serve_docs_offline(app)`,
called by `instrument_app` for every service (sources_api, api, api_ml), replaces those two
pages, at the URLs the app declared, with pages whose every asset comes from the installed
`fastapi-offline` package (Swagger UI 5 and ReDoc 2, mounted under `ASSETS_URL`).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs-assets"
# Swagger UI would ask validator.swagger.io to rate the spec: a request to the internet.
_SWAGGER_PARAMETERS = {"validatorUrl": None}


def docs_assets_dir() -> Path:
    """The folder of the installed Swagger UI / ReDoc files.

    Returns:
        The `static` folder of the `fastapi_offline` package.
    """
    return Path(str(files("fastapi_offline") / "static"))


def serve_docs_offline(app: FastAPI) -> None:
    """Serve `app`'s Swagger UI and ReDoc pages with local assets, at the URLs it declared.

    Args:
        app: a FastAPI app built with its default `docs_url` / `redoc_url` (either may be None).
    """
    pages = {url for url in (app.docs_url, app.redoc_url) if url}
    # FastAPI registered its CDN pages when the app was built; the offline ones take their place.
    app.router.routes = [r for r in app.router.routes if getattr(r, "path", None) not in pages]
    app.mount(ASSETS_URL, StaticFiles(directory=docs_assets_dir()), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    if app.docs_url:

        @app.get(app.docs_url, include_in_schema=False)
        def swagger_ui(request: Request) -> HTMLResponse:
            root = request.scope.get("root_path", "")
            return get_swagger_ui_html(
                openapi_url=f"{root}{openapi_url}",
                title=f"{app.title} - Swagger UI",
                swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
                swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
                oauth2_redirect_url=app.swagger_ui_oauth2_redirect_url,
                swagger_ui_parameters={**(app.swagger_ui_parameters or {}), **_SWAGGER_PARAMETERS},
            )

    if app.redoc_url:

        @app.get(app.redoc_url, include_in_schema=False)
        def redoc(request: Request) -> HTMLResponse:
            root = request.scope.get("root_path", "")
            return get_redoc_html(
                openapi_url=f"{root}{openapi_url}",
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
                redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
                with_google_fonts=False,
            )
