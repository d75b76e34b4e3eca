"""Elders: profile, administrative area, risk categories, health archive, emergency contacts, snapshots."""
