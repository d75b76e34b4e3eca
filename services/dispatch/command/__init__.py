"""Downlink commands to the elder's device, their acks and retries."""
