"""Visits (探访), the visit policy and the compliance report."""
