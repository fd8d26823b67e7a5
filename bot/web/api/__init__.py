"""The REST API, /api/v1: scoped keys, leads, actions, reps, campaigns, events, OpenAPI 3.1."""
