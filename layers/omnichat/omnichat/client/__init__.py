"""`omnichat chat`: the reference WebSocket client, for a terminal. Needs the `local`
extra (websockets, rich); nothing here is imported by the Lambdas."""
