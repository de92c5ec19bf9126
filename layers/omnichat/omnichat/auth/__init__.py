"""Authentication (passwords, tokens, API keys, WebSocket tickets) and authorization
(roles and policies, in one place)."""
