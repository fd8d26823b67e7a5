"""Web-to-lead forms: their definitions, the signed fill token, the checks a submission passes,
the processor that makes it a lead through the one capture path, and double opt-in."""
