"""Development and operations tools: the local stack (`make run`), the device simulator,
device provisioning and the Kafka node runner. Nothing here runs inside a service; the
services import only the kit (`eldercare/`)."""
