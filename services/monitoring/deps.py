"""Monitoring's FastAPI dependencies: who may do what, and the settings views need."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from eldercare.http import require_roles
from eldercare.settings import ApiPrincipal, Role
from services.monitoring.config import MonitoringSettings

Reader = Annotated[ApiPrincipal, Depends(require_roles(Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN, Role.OPS))]
Editor = Annotated[ApiPrincipal, Depends(require_roles(Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN))]
Supervisor = Annotated[ApiPrincipal, Depends(require_roles(Role.SUPERVISOR, Role.ADMIN))]


def _settings(request: Request) -> MonitoringSettings:
    return request.app.state.runtime.settings  # type: ignore[no-any-return]


SettingsDep = Annotated[MonitoringSettings, Depends(_settings)]
