"""Candidate ranking, assignments with their own state, and the cascade on decline or no answer."""
