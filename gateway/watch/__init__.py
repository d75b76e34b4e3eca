"""TCP ingress for watches that speak the "3G*" vendor protocol (docs/watch-protocol.md)."""
