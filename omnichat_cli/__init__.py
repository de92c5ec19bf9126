"""`omnichat chat`: the reference WebSocket client, for a terminal. Needs the `local`
extra (websockets, rich). A package of its own, outside the Lambda layer (layers/omnichat):
`omnichat.cli` imports it only when `omnichat chat` runs."""
