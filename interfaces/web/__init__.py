"""The dashboard: server-rendered pages over the same application services as the API."""
