"""Domain-free helpers. Nothing here imports app.<feature>, app.models, app.db or app.config."""
