"""Responder registry: who can be sent to an elder, where they are, and whether they can go."""
