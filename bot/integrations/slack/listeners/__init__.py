"""Slack listeners, one module per kind of event, each with `register(app, service)`."""
