"""`python -m gateway` runs the MQTT -> Kafka gateway."""

from eldercare.runtime import serve
from gateway.app import create_app
from gateway.config import GatewaySettings

settings = GatewaySettings()
serve(create_app(settings), settings, settings.http_port, "gateway")
