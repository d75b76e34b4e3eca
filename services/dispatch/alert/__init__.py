"""Monitoring alerts become incidents; a device's "I'm OK" cancels its fall; incident gauges for ops."""
