"""The care timeline: incidents and alarms from Kafka merged with the record's own history."""
