"""Provision MQTT credentials: one account per device (its id is its username), one for the gateway.

    python -m tools.provision device 860000000000001 [--passwd-file infra/mosquitto/passwd]
    python -m tools.provision gateway [--password ...]

Writes hashed entries with Debian's `mosquitto_passwd` into the password file that the
production broker loads (infra/mosquitto/mosquitto.conf); infra/mosquitto/acl then lets a
device publish only under eldercare/v1/devices/{its id}/… and read only its own commands.
The generated password is printed once, for the device's provisioning sheet.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

from eldercare.settings import REPO_ROOT
from gateway.payloads import DEVICE_ID_PATTERN

DEFAULT_PASSWD = REPO_ROOT / "infra" / "mosquitto" / "passwd"
GATEWAY_ACCOUNT = "gateway"  # infra/mosquitto/acl grants this user the device tree


def set_password(passwd_file: Path, username: str, password: str) -> None:
    """Add or replace one account in a Mosquitto password file (hashed by mosquitto_passwd)."""
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        raise SystemExit("mosquitto_passwd not found: sudo apt-get install mosquitto")
    passwd_file.parent.mkdir(parents=True, exist_ok=True)
    create = [] if passwd_file.exists() else ["-c"]
    subprocess.run([tool, *create, "-b", str(passwd_file), username, password], check=True)
    passwd_file.chmod(0o600)


def provision_device(passwd_file: Path, device_id: str, password: str | None = None) -> str:
    """Create or rotate a device's broker account; returns its password."""
    if not DEVICE_ID_PATTERN.fullmatch(device_id):
        raise ValueError("device id must match [A-Za-z0-9_-]{1,64}")
    password = password or secrets.token_urlsafe(18)
    set_password(passwd_file, device_id, password)
    return password


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.provision", description=__doc__.split("\n\n")[0])
    parser.add_argument("--passwd-file", type=Path, default=DEFAULT_PASSWD)
    commands = parser.add_subparsers(dest="command", required=True)
    device = commands.add_parser("device", help="create or rotate a device account")
    device.add_argument("device_id")
    device.add_argument("--password", help="default: a fresh random one")
    gateway = commands.add_parser("gateway", help="create or rotate the gateway's account")
    gateway.add_argument("--password", help="default: a fresh random one")
    args = parser.parse_args(argv)
    try:
        if args.command == "device":
            password = provision_device(args.passwd_file, args.device_id, args.password)
            username = args.device_id
        else:
            username, password = GATEWAY_ACCOUNT, args.password or secrets.token_urlsafe(24)
            set_password(args.passwd_file, username, password)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    print(f"username={username}\npassword={password}\npasswd_file={args.passwd_file}", file=sys.stdout)


if __name__ == "__main__":
    main()
