#!/bin/sh
# Container health check (ECS task definition and Dockerfile HEALTHCHECK): healthy when
# Ollama answers /api/version and the pull worker, if running, reported in the last 5 min.
exec /opt/omnichat/bin/python -m omnichat_pull health
