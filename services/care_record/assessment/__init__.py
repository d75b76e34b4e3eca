"""Ability assessments per GB/T 42195-2022; the latest is current."""
