"""Framing of the 3G* watch protocol: what the field sends, split and parsed."""

from __future__ import annotations

import pytest

from gateway.watch.framing import Frame, FrameReader, FramingError, encode_frame, parse_frame, unescape

LK = b"[3G*8800000015*0002*LK]"
POSITION = (
    b"[SG*8800000015*00CD*UD,220414,134652,A,22.571707,N,113.8613968,E,0.1,0.0,100,7,60,90,1000,50,00000000,"
    b"4,1,460,0,9360,4082,131,9360,4092,148,9360,4091,143,9360,4153,141]"
)


def read_all(*chunks: bytes, max_frame_bytes: int = 64 * 1024) -> list[Frame]:
    reader = FrameReader(max_frame_bytes)
    frames: list[Frame] = []
    for chunk in chunks:
        frames.extend(reader.feed(chunk))
    return frames


def test_a_heartbeat_frame_has_its_header_fields() -> None:
    [frame] = read_all(LK)
    assert (frame.vendor, frame.device_id, frame.seq, frame.length_hint, frame.type, frame.body) == (
        "3G",
        "8800000015",
        None,
        2,
        "LK",
        b"",
    )
    assert frame.raw == LK


def test_the_sequence_field_is_recognised_and_kept() -> None:
    [frame] = read_all(b"[CS*1234567890*00AF*0009*LK,0,0,84]")
    assert (frame.vendor, frame.seq, frame.length_hint, frame.type, frame.fields()) == (
        "CS",
        "00AF",
        9,
        "LK",
        ["0", "0", "84"],
    )


def test_several_frames_in_one_read_with_line_breaks_between() -> None:
    frames = read_all(LK + b"\r\n" + POSITION + b"\n" + b"[3G*8800000015*0004*TKQ2]")
    assert [frame.type for frame in frames] == ["LK", "UD", "TKQ2"]


@pytest.mark.parametrize("size", [1, 2, 7, 64])
def test_one_frame_over_many_reads(size: int) -> None:
    data = POSITION + LK
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    frames = read_all(*chunks)
    assert [frame.raw for frame in frames] == [POSITION, LK]


def test_a_frame_ends_where_its_brackets_balance_not_at_the_first_closing_one() -> None:
    wifi = (
        b"[3G*8800000015*0040*UD,010125,101010,V,0,,0,,0,0,0,0,50,80,0,0,00000000,0,0,"
        b"1,My[Home]Net,aa:bb:cc:dd:ee:ff,-60]"
    )
    [frame] = read_all(wifi, LK)[:1]
    assert frame.raw == wifi
    assert "My[Home]Net" in frame.fields()


def test_the_length_field_is_never_trusted() -> None:
    # Claims 0xFFFF bytes and 0 bytes; both frames are taken as they are.
    frames = read_all(b"[3G*8800000015*FFFF*LK]", b"[3G*8800000015*0000*LK,1,2,3]")
    assert [(frame.length_hint, frame.fields()) for frame in frames] == [(0xFFFF, []), (0, ["1", "2", "3"])]


def test_lower_case_hex_in_the_length_field() -> None:
    assert parse_frame(b"[3G*8800000015*00cd*LK]").length_hint == 0xCD


def test_binary_escapes_are_undone() -> None:
    escaped = b"\x01\x7d\x01\x7d\x02\x7d\x03\x7d\x04\x7d\x05\xff"
    [frame] = read_all(b"[3G*8800000015*0010*TK," + escaped + b"]")
    assert frame.body == b"\x01\x7d[],*\xff"


def test_a_7d_before_anything_else_is_left_alone() -> None:
    assert unescape(b"a}b\x7d\x06") == b"a}b\x7d\x06"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"GET / HTTP/1.1\r\n", "garbage"),
        (LK + b"xx" + LK, "garbage"),
        (b"[nonsense]", "bad_header"),
        (b"[3G*8800000015*zz*LK]", "bad_header"),
        (b"[3G*88000/00015*0002*LK]", "bad_device_id"),
        (b"[3G*8800000015*0002*]", "bad_type"),
        (b"[\xff\xfe*8800000015*0002*LK]", "bad_header"),
    ],
)
def test_what_is_not_a_frame_is_refused_with_its_reason(data: bytes, reason: str) -> None:
    with pytest.raises(FramingError) as refused:
        read_all(data)
    assert refused.value.reason == reason
    # The bytes that were refused travel with the error, for the dead letter.
    assert refused.value.raw and refused.value.raw in data


def test_garbage_after_good_frames_carries_only_the_garbage() -> None:
    with pytest.raises(FramingError) as refused:
        read_all(LK + b"junk" + LK)
    assert refused.value.raw == b"junk" + LK


def test_a_frame_left_unfinished_is_its_own_refusal_with_what_arrived() -> None:
    reader = FrameReader()
    reader.feed(LK + b"[3G*8800000015*0002*L")
    error = reader.unfinished()
    assert (error.reason, error.raw) == ("incomplete_frame", b"[3G*8800000015*0002*L")


def test_a_frame_that_never_closes_is_refused_once_over_the_limit() -> None:
    reader = FrameReader(max_frame_bytes=1024)
    assert reader.feed(b"[3G*8800000015*0400*TK," + b"a" * 900) == []
    assert reader.partial
    with pytest.raises(FramingError) as refused:
        reader.feed(b"a" * 200)
    assert refused.value.reason == "oversized"
    assert len(refused.value.raw) == 1024  # a prefix of it, as much as a frame may hold


def test_a_closed_frame_over_the_limit_is_refused() -> None:
    with pytest.raises(FramingError) as refused:
        read_all(b"[3G*8800000015*0400*TK," + b"a" * 2000 + b"]", max_frame_bytes=1024)
    assert refused.value.reason == "oversized"


def test_nothing_is_pending_between_whole_frames() -> None:
    reader = FrameReader()
    reader.feed(LK)
    assert not reader.partial
    reader.feed(LK[:5])
    assert reader.partial


def test_replies_carry_the_vendor_the_sequence_and_the_byte_length() -> None:
    assert encode_frame("3G", "8800000015", "LK") == b"[3G*8800000015*0002*LK]"
    assert encode_frame("CS", "1234567890", "INIT,1", seq="00AF") == b"[CS*1234567890*00AF*0006*INIT,1]"
    assert parse_frame(encode_frame("SG", "123", "MESSAGE,0074006500780074")).fields() == ["0074006500780074"]
