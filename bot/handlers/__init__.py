"""Thin handlers: decode an outside event, call the domain, answer."""
