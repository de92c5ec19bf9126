"""Local emulation of OmniChat's AWS stack: API Gateway, Ollama and Bedrock Runtime."""
