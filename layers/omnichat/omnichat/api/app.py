"""The FastAPI application. The table below is where every router gets its
authorization policy: the one place that says who may call what."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from omnichat import __version__
from omnichat.api import errors, openapi
from omnichat.api.deps import POLICIES
from omnichat.api.limits import BodyLimitMiddleware
from omnichat.api.routers import (
    admin,
    audit,
    auth,
    budgets,
    chats,
    collections,
    files,
    folders,
    groups,
    keys,
    models,
    ollama_nodes,
    presets,
    shares,
)
from omnichat.api.routers import sso as sso_router
from omnichat.config import Settings, get_settings


def _routers() -> list[tuple[APIRouter, str]]:
    return [
        (auth.public, "public"),
        (sso_router.router, "public"),
        (auth.account, "signed_in"),
        (auth.session, "session"),
        (auth.tickets_router, "active"),
        (keys.router, "active_session"),
        (folders.router, "active"),  # before chats: /api/chats/move is not a chat id
        (chats.router, "active"),
        (shares.router, "active"),
        (shares.public, "public"),
        (models.router, "active"),
        (models.admin_router, "admin"),
        (presets.router, "active"),
        (presets.admin_router, "admin"),
        (admin.router, "admin"),
        (audit.router, "admin"),
        (budgets.router, "active"),
        (budgets.admin_router, "admin"),
        (groups.router, "admin"),
        (ollama_nodes.router, "admin"),
        (files.router, "active"),
        (files.upload_form, "public"),  # the signed single-use form is the credential
        (collections.router, "active"),
    ]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(title="OmniChat API", version=__version__, docs_url="/api/docs",
                  openapi_url="/api/openapi.json", redoc_url=None,
                  swagger_ui_oauth2_redirect_url="/api/docs/oauth2-redirect")
    app.state.settings = settings
    app.state.jwt_secret = None  # loaded on first use (config.app_jwt_secret)
    errors.install(app)
    app.add_middleware(BodyLimitMiddleware, default_limit=settings.max_body_bytes,
                       limits={"/api/chats/import": settings.max_import_bytes, **files.body_limits(settings)})
    policies: dict[openapi.Operation, str] = {}
    for router, policy in _routers():
        app.include_router(router, dependencies=POLICIES[policy])
        policies.update({(route.path_format, method): policy for route in router.routes
                         if isinstance(route, APIRoute) for method in route.methods or ()})
    openapi.install(app, policies)

    @app.get("/api/health", tags=["meta"])
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app
