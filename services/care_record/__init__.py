"""Care record: the elder registry and care history, shared as snapshots over Kafka."""
