#!/bin/sh
# Container entrypoint. `ollama serve` starts at once and is the container's main process
# (it gets the stop signal; the task ends if it dies). Beside it, the companion waits for
# the server, preloads OMNICHAT_PRELOAD_MODELS onto the shared store (holding the store's
# one-writer lock), loads OMNICHAT_LOAD_MODELS into memory (Ollama's empty generate
# request), then takes queued pulls from the database. The server answers health
# checks and serves models already on EFS while a long preload is still running.
set -eu
export OLLAMA_MODELS="${OLLAMA_MODELS:-/models}"
mkdir -p "$OLLAMA_MODELS"
/opt/omnichat/bin/python -m omnichat_pull run &
exec /bin/ollama serve
