"""Service-level reports computed from the incident history."""
