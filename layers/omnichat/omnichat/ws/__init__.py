"""The WebSocket protocol (docs/websocket-protocol.md): frame schemas and actions."""
