"""Nurture campaigns: segments, compose, send, relay, tracking links, opens."""
