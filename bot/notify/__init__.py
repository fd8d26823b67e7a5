"""Notifications: the outbox dispatcher and the notifiers it delivers through."""
