"""Gateway: device MQTT in, canonical protobuf events on Kafka out; Kafka commands back to devices."""
