"""The optional enrichment provider (LEADBOT_ENRICH_URL): company facts no mail says."""
