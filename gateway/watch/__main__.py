"""`python -m gateway.watch` runs the TCP adapter for "3G*" watches."""

from eldercare.runtime import serve
from gateway.watch.app import create_app
from gateway.watch.config import WatchSettings

settings = WatchSettings()
serve(create_app(settings), settings, settings.http_port, "gateway-watch")
