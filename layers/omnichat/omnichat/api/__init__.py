"""The REST API (FastAPI): app factory, dependencies and policies, routers."""
