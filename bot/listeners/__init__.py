"""Transports: they accept input, hand it off and know nothing of leads."""
