"""The rules file (LEADBOT_RULES): one loader, one reloader, one error type."""
