"""Reminders sent to the elder's device as downlink commands at their due time."""
