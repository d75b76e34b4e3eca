"""Downlink commands in the watch's words, and the commands held until the watch echoes them."""

from __future__ import annotations

import pytest

from eldercare.v1 import commands_pb2
from gateway.watch.commands import Pending, PendingCommands, Unsupported, translate, utf16_hex
from gateway.watch.config import WatchSettings
from gateway.watch.identity import BoundWatches


def command(kind: str, text: str = "", number: str = "") -> commands_pb2.DeviceCommand:
    return commands_pb2.DeviceCommand(
        command_id="c1", type=kind, device_id="8800000015", text=text, callback_number=number
    )


@pytest.mark.parametrize(
    ("platform", "watch"),
    [
        (command("locate"), ("CR", "CR")),
        (command("message", "text"), ("MESSAGE", "MESSAGE,0074006500780074")),
        (command("message", "救援"), ("MESSAGE", "MESSAGE,655163F4")),
        (command("call_back", number="+8613800138000"), ("CALL", "CALL,+8613800138000")),
        (command("reminder", "08:10-1-1,12:00-1-2"), ("REMIND", "REMIND,08:10-1-1,12:00-1-2")),
        (command("reminder", "take your pills"), ("MESSAGE", f"MESSAGE,{utf16_hex('take your pills')}")),
        (command("sos_numbers", "110,120"), ("SOS", "SOS,110,120,")),
        (command("upload_interval", "300"), ("UPLOAD", "UPLOAD,300")),
    ],
)
def test_platform_commands_in_the_watchs_words(platform: commands_pb2.DeviceCommand, watch: tuple[str, str]) -> None:
    assert translate(platform) == watch


@pytest.mark.parametrize(
    "bad",
    [command("call_back", number="12;RESET"), command("message"), command("teleport"), command("upload_interval", "1")],
)
def test_what_the_protocol_cannot_carry_is_refused(bad: commands_pb2.DeviceCommand) -> None:
    with pytest.raises(Unsupported):
        translate(bad)


def test_a_sent_command_is_released_by_the_watchs_echo_oldest_first() -> None:
    pending = PendingCommands()
    first = pending.add("w", Pending("c1", "CR", "CR", expires_at=100))
    second = pending.add("w", Pending("c2", "CR", "CR", expires_at=100))
    assert pending.echoed("w", "CR") is None  # nothing was sent yet: an echo cannot ack it
    first.sent = second.sent = True
    assert pending.echoed("w", "cr") is first
    assert pending.echoed("w", "CR") is second
    assert pending.echoed("w", "CR") is None and len(pending) == 0


def test_a_retry_replaces_the_held_command_and_expired_ones_go() -> None:
    pending = PendingCommands()
    pending.add("w", Pending("c1", "CR", "CR", expires_at=10))
    pending.add("w", Pending("c1", "CR", "CR", expires_at=20))
    pending.add("w", Pending("c2", "MESSAGE", "MESSAGE,00", expires_at=5))
    assert [p.command_id for p in pending.for_watch("w", now=6)] == ["c1"]
    assert pending.drop("w", "c1") and pending.for_watch("w", now=6) == []


def test_bound_watches_follow_the_elders_bindings_and_know_everyone_until_caught_up() -> None:
    bound = BoundWatches(WatchSettings())
    assert bound.knows("w1")  # not read yet: nobody is refused for that
    bound.caught_up.set()
    bound.apply("elder-1", frozenset({"w1"}))
    bound.apply("elder-2", frozenset({"w1", "w2"}))  # a move in flight: listed by both
    bound.apply("elder-1", frozenset())
    assert (bound.knows("w1"), bound.knows("w2"), bound.knows("w3")) == (True, True, False)
    bound.apply("elder-2", frozenset())
    assert not bound.knows("w1")
