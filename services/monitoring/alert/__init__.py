"""Alerts: recorded locally and published to eldercare.alerts.v1 through the outbox."""
