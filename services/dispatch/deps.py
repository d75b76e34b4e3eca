"""Dispatch's FastAPI dependencies: who may call what, and the settings, policy and runtime a view needs.

Views take these as parameters (never `request.app.state`), so each view's needs are in
its signature and a test can override one dependency without building an app state.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from eldercare.deps import from_app_state
from eldercare.http import AuthFailureThrottle, require_roles
from eldercare.runtime import ServiceRuntime
from eldercare.settings import ApiPrincipal, Role
from services.dispatch.assignment.service import Policy
from services.dispatch.config import DispatchSettings
from services.dispatch.console.session import CookieAuth
from services.dispatch.platform_alert.service import PlatformAlertBoard

# Every role that works incidents, ops included (they see the queue, not personal data).
Reader = Annotated[ApiPrincipal, Depends(require_roles(Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN, Role.OPS))]
# Personal data (an elder's record, who called): ops do not see it.
PersonalDataReader = Annotated[ApiPrincipal, Depends(require_roles(Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN))]
Dispatcher = Annotated[ApiPrincipal, Depends(require_roles(Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN))]
Supervisor = Annotated[ApiPrincipal, Depends(require_roles(Role.SUPERVISOR, Role.ADMIN))]
# The floor's overseers: platform alerts are theirs.
Watcher = Annotated[ApiPrincipal, Depends(require_roles(Role.SUPERVISOR, Role.ADMIN, Role.OPS))]
# The telephony system posts call events and reads nothing.
Telephony = Annotated[ApiPrincipal, Depends(require_roles(Role.TELEPHONY, Role.ADMIN))]


SettingsDep = Annotated[DispatchSettings, from_app_state("settings")]
PolicyDep = Annotated[Policy, from_app_state("dispatch_policy")]
RuntimeDep = Annotated[ServiceRuntime, from_app_state("runtime")]
CookieAuthDep = Annotated[CookieAuth, from_app_state("session_auth")]
# Alertmanager's alerts about the platform itself, kept in memory (they must outlive the database).
PlatformAlertsDep = Annotated[PlatformAlertBoard, from_app_state("platform_alerts")]
# API tokens -> who they are (the console signs in with one).
PrincipalsDep = Annotated[dict[str, ApiPrincipal], from_app_state("principals")]
# Failed sign-ins per client address (the kit's bearer check counts into the same one).
AuthThrottleDep = Annotated[AuthFailureThrottle, from_app_state("auth_throttle")]
