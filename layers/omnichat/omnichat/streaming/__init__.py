"""The streaming relay: model deltas → coalesced frames → WebSocket connections, with the
answer persisted as it grows."""
