"""Coverage-guided fuzzing of the gateway's payload decoding (atheris / libFuzzer).

Run: .venv/bin/python tests/fuzz/fuzz_payloads.py -runs=100000 [corpus_dir]
The first byte picks a topic shape; the rest is the payload.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    import gateway.payloads  # noqa: F401
    from tests.fuzz.invariants import check_message

TOPICS = [
    "eldercare/v1/devices/860000000000001/sos",
    "eldercare/v1/devices/860000000000001/fall",
    "eldercare/v1/devices/860000000000001/location",
    "eldercare/v1/devices/860000000000001/vitals",
    "eldercare/v1/devices/860000000000001/heartbeat",
    "eldercare/v1/devices/860000000000001/alarm",
    "eldercare/v1/devices/860000000000001/ack",
]


def one_input(data: bytes) -> None:
    if not data:
        return
    selector, payload = data[0], data[1:]
    if selector < 240:
        topic = TOPICS[selector % len(TOPICS)]
    else:
        # Hostile topics: the fuzzer writes the device id and kind too.
        provider = atheris.FuzzedDataProvider(payload)
        topic = "eldercare/v1/devices/" + provider.ConsumeUnicodeNoSurrogates(80)
        payload = provider.ConsumeBytes(provider.remaining_bytes())
    check_message(topic, payload)


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
