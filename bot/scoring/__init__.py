"""Behaviour score, fit grade and the MQL decision."""
