"""The HTTP side: the ASGI app and its routes (health, lead page, events, tracking)."""
