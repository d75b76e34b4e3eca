"""POST /api/v1/platform-alerts/alertmanager (Alertmanager's webhook) and GET /api/v1/platform-alerts."""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, status
from pydantic import Field

from eldercare.envelope import utcnow
from eldercare.http import RequestModel
from services.dispatch.deps import AuthThrottleDep, PlatformAlertsDep, SettingsDep, Watcher
from services.dispatch.platform_alert.service import PlatformAlert

router = APIRouter(prefix="/api/v1/platform-alerts", tags=["platform alerts"])

Label = Annotated[str, Field(max_length=1024)]
Labels = Annotated[dict[Annotated[str, Field(max_length=128)], Label], Field(max_length=64)]


class WebhookAlert(RequestModel):
    """One alert of Alertmanager's webhook payload (version 4); unknown fields are ignored."""

    status: Literal["firing", "resolved"]
    labels: Labels
    annotations: Labels = Field(default_factory=dict)
    startsAt: datetime | None = None  # Alertmanager's field names
    endsAt: datetime | None = None
    fingerprint: str = Field(min_length=1, max_length=64)


class WebhookBody(RequestModel):
    version: Literal["4"]
    status: Literal["firing", "resolved"]
    receiver: str = Field("", max_length=256)
    alerts: list[WebhookAlert] = Field(max_length=1000)


class PlatformAlertView(RequestModel):
    fingerprint: str
    alert: str
    status: str
    severity: str
    critical: bool
    summary: str
    labels: dict[str, str]
    starts_at: str | None
    ends_at: str | None
    received_at: str


async def alertmanager_caller(
    request: Request,
    settings: SettingsDep,
    throttle: AuthThrottleDep,
    authorization: Annotated[str | None, Header()] = None,
) -> None:
    """Alertmanager authenticates with the shared DISPATCH_ALERTMANAGER_TOKEN (it is not an API user).

    Wrong tokens count against the caller's address like failed sign-ins (429 past the allowance).
    """
    expected = settings.alertmanager_token
    if expected is None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "the Alertmanager webhook is off: DISPATCH_ALERTMANAGER_TOKEN is not set"
        )
    throttle.check(request)
    scheme, _, token = (authorization or "").partition(" ")
    # Constant time: the comparison must not tell a caller how much of the token it guessed.
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected.encode()):
        throttle.failed(request)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or wrong Alertmanager token (Authorization: Bearer DISPATCH_ALERTMANAGER_TOKEN)",
            headers={"WWW-Authenticate": "Bearer"},
        )


@router.post("/alertmanager", dependencies=[Depends(alertmanager_caller)])
async def alertmanager_webhook(body: WebhookBody, board: PlatformAlertsDep) -> dict[str, int]:
    """Alertmanager's webhook receiver: records the alerts in memory; critical ones go out on the live stream."""
    received = utcnow()
    alerts = [
        PlatformAlert(
            fingerprint=alert.fingerprint,
            name=alert.labels.get("alertname", "unnamed"),
            status=alert.status,
            severity=alert.labels.get("severity", "none"),
            summary=alert.annotations.get("summary", "")[:1024],
            labels=alert.labels,
            starts_at=alert.startsAt,
            # Alertmanager sends 0001-01-01 for "not resolved yet".
            ends_at=alert.endsAt if alert.status == "resolved" else None,
            received_at=received,
        )
        for alert in body.alerts
    ]
    changed = board.record(alerts)
    return {"received": len(alerts), "changed": len(changed)}


@router.get("", response_model=list[PlatformAlertView])
async def list_platform_alerts(
    board: PlatformAlertsDep,
    _: Watcher,
    status_filter: Annotated[Literal["firing", "resolved", "all"], Query(alias="status")] = "firing",
    critical_only: bool = False,
) -> list[dict[str, object]]:
    """Platform alerts Alertmanager reported to this replica, newest change first (kept in memory, see decision 38)."""
    chosen = None if status_filter == "all" else status_filter
    return [alert.as_dict() for alert in board.alerts(status=chosen, critical_only=critical_only)]
