"""Documents: uploads, indexing, hybrid search, citations and images (docs/documents.md).

Nothing here is imported on a chat's hot path unless the chat uses files or collections."""
