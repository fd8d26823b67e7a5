"""leadbot: email and web leads in, de-duplicated, scored, assigned and worked from Slack."""

__version__ = "0.1.0"
