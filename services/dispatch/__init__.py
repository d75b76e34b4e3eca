"""Dispatch: turns alarms into prioritised incidents that dispatchers work through an API."""
