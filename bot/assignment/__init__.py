"""Who gets a lead: the pure decision, availability, hours, the assigner loop, explain.

`decide.py` the decision (rules → pool → filters → strategy, with reasons), `availability.py`
the rep snapshot and whether a rep can take a lead now, `hours.py` working hours/days, absences
and time zones, `assigner.py` the queue loop that acts on decisions, `explain.py` the text of
`leadbot assign explain`.
"""
