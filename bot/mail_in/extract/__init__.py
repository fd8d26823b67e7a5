"""Lead fields from an inbound mail, in parts a newcomer can find by name.

`lead.py` `extract_lead`, `LeadDraft` and `split_reply` (what callers use); `quotes.py` quoted
history and reply headers; `signature.py` where the signature starts and what its lines say;
`names.py` person and company names; `phones.py` phone numbers; `text.py` HTML made text, the
scan limits and blank-edge trimming that the others share.
"""
