"""Outgoing mail: composing nurture emails (tracked links, pixel, opt-out) and delivering them."""
