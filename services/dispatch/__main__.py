"""`python -m services.dispatch` runs the dispatch service."""

from eldercare.runtime import serve
from services.dispatch.app import create_app
from services.dispatch.config import DispatchSettings

settings = DispatchSettings()
serve(create_app(settings), settings, settings.http_port, "dispatch")
