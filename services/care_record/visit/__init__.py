"""Visits (探访) and the compliance report (the visit policy itself is the elder's: elder/visit_policy.py)."""
