"""Reminder API."""

from __future__ import annotations

from fastapi import APIRouter, status

from eldercare.deps import SessionDep, TransactionDep
from services.care_record.deps import Admin, Reader
from services.care_record.elder.service import get_elder
from services.care_record.flows import committed
from services.care_record.reminder import service
from services.care_record.reminder.models import ReminderCreate, ReminderRead

router = APIRouter(prefix="/api/v1/elders/{elder_id}/reminders", tags=["reminders"])


@router.post("", response_model=ReminderRead, status_code=status.HTTP_201_CREATED)
async def create_reminder(
    elder_id: str, body: ReminderCreate, session: TransactionDep, principal: Admin
) -> ReminderRead:
    """Schedule a reminder; at its due time it goes to the elder's device as a `reminder` command."""
    change = service.create_reminder(session, elder_id=elder_id, data=body, actor=principal.name)
    return await committed(session, change, ReminderRead.model_validate, entity="reminder")


@router.get("", response_model=list[ReminderRead])
async def list_reminders(elder_id: str, session: SessionDep, _: Reader) -> list[ReminderRead]:
    """The elder's reminders by due time, with their delivery state."""
    await get_elder(session, elder_id=elder_id)
    return [ReminderRead.model_validate(r) for r in await service.list_reminders(session, elder_id=elder_id)]


@router.post("/{reminder_id}/cancel", response_model=ReminderRead)
async def cancel_reminder(elder_id: str, reminder_id: str, session: TransactionDep, _: Admin) -> ReminderRead:
    """Cancel a reminder that has not fired yet (409 once it has)."""
    change = service.cancel_reminder(session, elder_id=elder_id, reminder_id=reminder_id)
    return await committed(session, change, ReminderRead.model_validate, entity="reminder")
