"""`make bench` and `make soak`: the platform measured on this machine (see docs/performance.md)."""
