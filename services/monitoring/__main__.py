"""`python -m services.monitoring` runs the monitoring service."""

from eldercare.runtime import serve
from services.monitoring.app import create_app
from services.monitoring.config import MonitoringSettings

settings = MonitoringSettings()
serve(create_app(settings), settings, settings.http_port, "monitoring")
