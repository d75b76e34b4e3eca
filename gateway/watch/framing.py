"""Framing of the "3G*" watch protocol: bytes off a TCP connection in, whole frames out.

`[VV*DEVICEID*LLLL*CONTENT]` or, from watches that number their frames,
`[VV*DEVICEID*SSSS*LLLL*CONTENT]`. Pure (no I/O), so every field quirk is unit-tested.

What the field sends, and so what this accepts:
- a frame ends where its brackets balance, not at the first `]`: a Wi-Fi network name in a
  position report may itself hold `[` or `]`;
- several frames in one read, one frame over many reads, and line breaks between frames;
- the length field `LLLL` is often wrong (watches count characters, not bytes, or count
  before escaping), so it is kept as a hint and never used to cut or refuse a frame;
- binary payloads (voice, images) escape five bytes with 0x7D: `7D 01`->`7D`, `7D 02`->`[`,
  `7D 03`->`]`, `7D 04`->`,`, `7D 05`->`*`, which is what keeps raw brackets out of them.

Anything else ends the connection it came on (`FramingError`, with a reason that is a metric
label): a watch that sends garbage is not going to start making sense mid-stream, and one
connection is one watch, so no other watch is affected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.payloads import DEVICE_ID_PATTERN

# Voice chunks are the largest frames real watches send (a few KiB of AMR each).
DEFAULT_MAX_FRAME_BYTES = 64 * 1024
# Between frames: line breaks and padding some firmwares add; nothing else.
_FILLER = frozenset(b" \t\r\n\x00")
_BRACKETS = re.compile(rb"[\[\]]")
_VENDOR = re.compile(r"[A-Za-z0-9]{1,8}")
_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")
_ESCAPES = {1: b"\x7d", 2: b"[", 3: b"]", 4: b",", 5: b"*"}
_ESCAPED = re.compile(rb"\x7d([\x01-\x05])")


class FramingError(Exception):
    """The connection sent something that is not a frame; `reason` is a bounded metric label."""

    def __init__(self, reason: str, detail: str, raw: bytes = b"") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.raw = raw  # the offending bytes, for the dead letter (at most the frame size limit)


@dataclass(frozen=True, slots=True)
class Frame:
    vendor: str  # the two-letter family (3G, SG, CS, ...): replies and commands go out in it
    device_id: str
    seq: str | None  # the optional sequence field, echoed in replies
    length_hint: int  # what the watch claims CONTENT's length is; not to be relied on
    type: str  # CONTENT up to the first comma: LK, UD, AL, ...
    body: bytes  # CONTENT after the first comma, escapes undone (b"" when there is none)
    raw: bytes  # the frame as it arrived, for dead letters

    def fields(self) -> list[str]:
        """The body as text fields. Network names may be in any encoding: undecodable bytes are replaced."""
        if not self.body:
            return []
        return self.body.decode("utf-8", errors="replace").split(",")


def unescape(data: bytes) -> bytes:
    """Undo the 0x7D escapes of binary payloads (a 0x7D followed by anything else is left alone)."""
    if b"\x7d" not in data:
        return data
    return _ESCAPED.sub(lambda match: _ESCAPES[match.group(1)[0]], data)


def parse_frame(raw: bytes) -> Frame:
    """One whole frame, brackets included, into its fields."""
    inner = raw[1:-1]
    parts = inner.split(b"*", 3)
    if len(parts) < 4:
        # `[VV*ID*LLLL]` with no content at all, or no header: not a frame we can answer.
        raise FramingError("bad_header", "a frame needs vendor*id*length*content")
    try:
        vendor, device_id, field = (part.decode("ascii") for part in parts[:3])
    except UnicodeDecodeError:
        raise FramingError("bad_header", "the header is not ASCII") from None
    if not _VENDOR.fullmatch(vendor):
        raise FramingError("bad_header", f"vendor {vendor[:16]!r} is not 1-8 letters or digits")
    if not DEVICE_ID_PATTERN.fullmatch(device_id):
        raise FramingError("bad_device_id", "the device id must match [A-Za-z0-9_-]{1,64}")
    if not _HEX4.fullmatch(field):
        raise FramingError("bad_header", "the length field is not 4 hex digits")
    seq: str | None = None
    rest = parts[3]
    # A sequence field is four hex digits followed by another four-hex-digit field: a content type
    # never looks like `XXXX*`, so the two layouts cannot be confused.
    if len(rest) >= 5 and rest[4:5] == b"*" and _HEX4.fullmatch(rest[:4].decode("ascii", errors="replace")):
        seq, field, rest = field, rest[:4].decode("ascii"), rest[5:]
    content = unescape(rest)
    kind, _, body = content.partition(b",")
    try:
        type_text = kind.decode("ascii")
    except UnicodeDecodeError:
        raise FramingError("bad_type", "the content type is not ASCII") from None
    if not type_text or len(type_text) > 32:
        raise FramingError("bad_type", "the content type is empty or longer than 32 characters")
    return Frame(vendor, device_id, seq, int(field, 16), type_text, body, raw)


class FrameReader:
    """Splits one connection's byte stream into frames, keeping what is left for the next read."""

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._buffer = bytearray()
        self._depth = 0
        self._scanned = 0  # bytes of the buffer whose brackets are already counted in _depth

    @property
    def partial(self) -> bool:
        """True while a frame has begun and not ended (the connection's frame timer runs)."""
        return bool(self._buffer)

    def unfinished(self) -> FramingError:
        """The error for a frame begun and never ended (the connection's frame timer ran out)."""
        return FramingError("incomplete_frame", "a frame began and did not end in time", bytes(self._buffer))

    def feed(self, data: bytes) -> list[Frame]:
        """The frames `data` completes, in order; FramingError when the stream is not frames."""
        frames: list[Frame] = []
        buffer = self._buffer
        buffer += data
        while buffer:
            if self._depth == 0 and self._scanned == 0:
                start = 0
                while start < len(buffer) and buffer[start] in _FILLER:
                    start += 1
                del buffer[:start]
                if not buffer:
                    break
                if buffer[0] != ord("["):
                    raise FramingError(
                        "garbage", f"expected '[' but got {bytes(buffer[:16])!r}", bytes(buffer[: self.max_frame_bytes])
                    )
            end = self._scan()
            if end is None:
                if len(buffer) > self.max_frame_bytes:
                    raise FramingError(
                        "oversized",
                        f"no end of frame within {self.max_frame_bytes} bytes",
                        bytes(buffer[: self.max_frame_bytes]),
                    )
                break
            raw = bytes(buffer[:end])
            del buffer[:end]
            self._scanned = 0
            if len(raw) > self.max_frame_bytes:
                raise FramingError(
                    "oversized",
                    f"a {len(raw)}-byte frame; the limit is {self.max_frame_bytes}",
                    raw[: self.max_frame_bytes],
                )
            try:
                frames.append(parse_frame(raw))
            except FramingError as error:
                error.raw = raw
                raise
        return frames

    def _scan(self) -> int | None:
        """The end (exclusive) of the frame at the buffer's start once its brackets balance, else None."""
        depth = self._depth
        for match in _BRACKETS.finditer(self._buffer, self._scanned):
            depth += 1 if match.group() == b"[" else -1
            if depth == 0:
                self._depth = 0
                return match.end()
        self._depth = depth
        self._scanned = len(self._buffer)
        return None


def encode_frame(vendor: str, device_id: str, content: str, seq: str | None = None) -> bytes:
    """A frame to a watch, in its vendor prefix, with its sequence field when it uses one."""
    body = content.encode("utf-8")
    header = f"[{vendor}*{device_id}*" + (f"{seq}*" if seq is not None else "") + f"{len(body):04X}*"
    return header.encode("ascii") + body + b"]"
