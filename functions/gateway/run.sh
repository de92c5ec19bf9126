#!/bin/sh
# Lambda Web Adapter start script for the "gateway" function (Handler: run.sh).
#
# The adapter (layer, AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap) runs this script at cold start,
# waits until the app answers on $PORT, then turns each invocation into an HTTP request
# and streams the response back (AWS_LWA_INVOKE_MODE=response_stream). app.py in this folder
# defines the ASGI `app`; the omnichat layer unpacks to /opt/python, and the runtime's own
# packages (boto3) live in $LAMBDA_RUNTIME_DIR.
set -eu
task_root="${LAMBDA_TASK_ROOT:-$(cd "$(dirname "$0")" && pwd)}"
PYTHONPATH="${task_root}:/opt/python${LAMBDA_RUNTIME_DIR:+:$LAMBDA_RUNTIME_DIR}${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPATH
cd "$task_root"
exec python -m uvicorn app:app \
  --host 127.0.0.1 \
  --port "${PORT:-8000}" \
  --no-access-log \
  --timeout-keep-alive 30 \
  --log-level "$(echo "${LOG_LEVEL:-info}" | tr '[:upper:]' '[:lower:]')"
