"""Downlink commands in the watch's own words, and the commands held for watches until they ack.

Pure (no I/O): the adapter's connection code asks `PendingCommands` what to send when a watch
connects or a command arrives, and tells it which command types the watch echoed.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field

from eldercare.v1 import commands_pb2

_NUMBER = re.compile(r"\+?[0-9]{1,20}")
# `REMIND,HH:MM-on-type,…`: a reminder text in this form is the watch's own alarm-clock setting.
_REMIND = re.compile(r"\d{2}:\d{2}-[01]-[0-9](?:-[01]{7})?(?:,\d{2}:\d{2}-[01]-[0-9](?:-[01]{7})?)*")
MAX_PER_WATCH = 32


class Unsupported(ValueError):
    """A command this protocol cannot carry (a bad number, an unknown type); counted, never sent."""


def utf16_hex(text: str) -> str:
    """MESSAGE's text: UTF-16 big-endian, as upper-case hex ("text" -> 0074006500780074)."""
    return text.encode("utf-16-be").hex().upper()


def translate(command: commands_pb2.DeviceCommand) -> tuple[str, str]:
    """(the type the watch echoes as its ack, the frame's CONTENT) for a platform command."""
    kind, text = command.type, command.text
    if kind == "locate":
        return "CR", "CR"
    if kind == "message":
        if not text:
            raise Unsupported("a message needs text")
        return "MESSAGE", f"MESSAGE,{utf16_hex(text)}"
    if kind == "call_back":
        number = command.callback_number or text
        if not _NUMBER.fullmatch(number):
            raise Unsupported("call_back needs a phone number of digits")
        return "CALL", f"CALL,{number}"
    if kind == "reminder":
        # The platform's reminder is usually a text to show now; watches only know REMIND as alarm
        # clocks (HH:MM-on-type). A reminder written in that form sets them, any other is shown.
        if _REMIND.fullmatch(text):
            return "REMIND", f"REMIND,{text}"
        if not text:
            raise Unsupported("a reminder needs text")
        return "MESSAGE", f"MESSAGE,{utf16_hex(text)}"
    if kind == "sos_numbers":
        numbers = [number.strip() for number in text.split(",")][:3]
        if not numbers or not all(_NUMBER.fullmatch(number) or not number for number in numbers):
            raise Unsupported("sos_numbers needs up to three phone numbers")
        return "SOS", "SOS," + ",".join(numbers + [""] * (3 - len(numbers)))
    if kind == "upload_interval":
        if not text.isdigit() or not 10 <= int(text) <= 86_400:
            raise Unsupported("upload_interval needs seconds between 10 and 86400")
        return "UPLOAD", f"UPLOAD,{int(text)}"
    raise Unsupported(f"no 3G* form for a {kind[:32]!r} command")


@dataclass
class Pending:
    command_id: str
    echo: str  # the frame type the watch answers with
    content: str
    expires_at: float
    sent: bool = False


@dataclass
class PendingCommands:
    """Commands per watch, oldest first, until the watch echoes them or they expire."""

    by_watch: dict[str, OrderedDict[str, Pending]] = field(default_factory=dict)

    def __len__(self) -> int:
        return sum(len(commands) for commands in self.by_watch.values())

    def add(self, device_id: str, pending: Pending) -> Pending:
        """Hold a command; a retry of one already held replaces it (and goes out again)."""
        commands = self.by_watch.setdefault(device_id, OrderedDict())
        commands.pop(pending.command_id, None)
        commands[pending.command_id] = pending
        while len(commands) > MAX_PER_WATCH:
            commands.popitem(last=False)
        return pending

    def for_watch(self, device_id: str, now: float) -> list[Pending]:
        """What to send a watch that just connected: everything it holds that has not expired."""
        self.expire(now)
        return list(self.by_watch.get(device_id, {}).values())

    def echoed(self, device_id: str, frame_type: str) -> Pending | None:
        """The oldest sent command the watch's echo of `frame_type` acknowledges, taken off the list."""
        commands = self.by_watch.get(device_id)
        if not commands:
            return None
        for command_id, pending in commands.items():
            if pending.sent and pending.echo == frame_type.upper():
                del commands[command_id]
                if not commands:
                    del self.by_watch[device_id]
                return pending
        return None

    def drop(self, device_id: str, command_id: str) -> bool:
        """A command another adapter process saw acked: nothing left to deliver here."""
        commands = self.by_watch.get(device_id)
        if not commands or commands.pop(command_id, None) is None:
            return False
        if not commands:
            del self.by_watch[device_id]
        return True

    def expire(self, now: float) -> int:
        expired = 0
        for device_id in list(self.by_watch):
            commands = self.by_watch[device_id]
            for command_id in [cid for cid, pending in commands.items() if pending.expires_at <= now]:
                del commands[command_id]
                expired += 1
            if not commands:
                del self.by_watch[device_id]
        return expired
