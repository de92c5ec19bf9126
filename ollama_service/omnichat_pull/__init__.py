"""OmniChat's companion to `ollama serve` inside the Ollama ECS task.

- preload: makes sure the configured models are on the shared model store (EFS) when a
  task starts;
- pull worker: runs model pulls an admin asked for (rows in the `model_pulls` table), for
  as long as they take, and writes their progress to the same row for the admin's
  WebSocket to relay;
- health: what the container health check runs.

Every pull, preload or requested, holds one lock file on the shared store, so across all
tasks there is one writer on EFS at a time. Standard library only, plus pg8000 for
PostgreSQL (sqlite3 for local runs and tests) and the core's DB-API helper,
omnichat.db.dbapi, which the image copies. See ../README.md for the design.
"""

__all__ = ["__version__"]

__version__ = "1.0.0"
