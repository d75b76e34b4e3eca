"""Shared kit for every eldercare process: envelope, Kafka, DB, settings, HTTP, metrics."""
