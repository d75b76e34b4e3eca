"""Dispatch's FastAPI dependencies: who may call what, and the settings, policy and runtime a view needs.

Views take these as parameters (never `request.app.state`), so each view's needs are in
its signature and a test can override one dependency without building an app state.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

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


def _settings(request: Request) -> DispatchSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _policy(request: Request) -> Policy:
    return request.app.state.dispatch_policy  # type: ignore[no-any-return]


def _runtime(request: Request) -> ServiceRuntime:
    return request.app.state.runtime  # type: ignore[no-any-return]


def _cookie_auth(request: Request) -> CookieAuth:
    return request.app.state.session_auth  # type: ignore[no-any-return]


def _platform_alerts(request: Request) -> PlatformAlertBoard:
    return request.app.state.platform_alerts  # type: ignore[no-any-return]


def _auth_throttle(request: Request) -> AuthFailureThrottle:
    return request.app.state.auth_throttle  # type: ignore[no-any-return]


def _principals(request: Request) -> dict[str, ApiPrincipal]:
    return request.app.state.principals  # type: ignore[no-any-return]


SettingsDep = Annotated[DispatchSettings, Depends(_settings)]
PolicyDep = Annotated[Policy, Depends(_policy)]
RuntimeDep = Annotated[ServiceRuntime, Depends(_runtime)]
CookieAuthDep = Annotated[CookieAuth, Depends(_cookie_auth)]
# Alertmanager's alerts about the platform itself, kept in memory (they must outlive the database).
PlatformAlertsDep = Annotated[PlatformAlertBoard, Depends(_platform_alerts)]
# API tokens -> who they are (the console signs in with one).
PrincipalsDep = Annotated[dict[str, ApiPrincipal], Depends(_principals)]
# Failed sign-ins per client address (the kit's bearer check counts into the same one).
AuthThrottleDep = Annotated[AuthFailureThrottle, Depends(_auth_throttle)]
