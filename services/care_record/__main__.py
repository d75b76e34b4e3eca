"""`python -m services.care_record` runs the care_record service."""

from eldercare.runtime import serve
from services.care_record.app import create_app
from services.care_record.config import CareRecordSettings

settings = CareRecordSettings()
serve(create_app(settings), settings, settings.http_port, "care_record")
