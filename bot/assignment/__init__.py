"""Who gets a lead: the pure decision, availability, the assigner loop."""
