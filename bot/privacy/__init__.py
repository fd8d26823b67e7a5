"""Privacy: a person's data exported and erased on request, retention rules, hygiene reports.

Every part walks the one declaration of where personal data lives (storage/personal_data.py).
"""
