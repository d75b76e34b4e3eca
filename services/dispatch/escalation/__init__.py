"""Acknowledgement deadlines and escalation, with timers in the database."""
