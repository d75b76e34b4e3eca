"""Monitoring: device health, geofences, vitals and inactivity become alerts."""
