"""Device state: last seen, location, battery, signal; offline detection and inactivity check-in."""
