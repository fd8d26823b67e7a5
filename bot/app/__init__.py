"""The composition root: services built from the settings, `serve` and its runners."""
