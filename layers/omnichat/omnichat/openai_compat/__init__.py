"""The OpenAI-compatible gateway: OpenAI's chat completions, models and embeddings APIs
over the platform's providers (Bedrock Converse, Ollama), with the platform's API keys,
model access rules and request log. `app.create_app()` builds the ASGI app."""
