"""Provision MQTT credentials: one account per device (its id is its username), one for the gateway.

    python -m tools.provision device 860000000000001 [--passwd-file infra/mosquitto/passwd]
    python -m tools.provision gateway [--password-stdin] [--broker-group mosquitto]

Writes hashed entries with Debian's `mosquitto_passwd` into the password file that the
production broker loads (infra/mosquitto/mosquitto.conf); infra/mosquitto/acl then lets a
device publish only under eldercare/v1/devices/{its id}/… and read only its own commands.
A generated password is printed once, for the device's provisioning sheet; a chosen one is
read from standard input (prompted for on a terminal), never from the command line, where
any user of the machine could read it in the process list.
"""

from __future__ import annotations

import argparse
import getpass
import grp
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

from eldercare.settings import REPO_ROOT
from gateway.payloads import DEVICE_ID_PATTERN

DEFAULT_PASSWD = REPO_ROOT / "infra" / "mosquitto" / "passwd"
DEFAULT_ACL = REPO_ROOT / "infra" / "mosquitto" / "acl"
GATEWAY_ACCOUNT = "gateway"  # infra/mosquitto/acl grants this user the device tree
# The eclipse-mosquitto image's broker runs as uid and gid 1883; a host without a `mosquitto`
# group is usually one that mounts the file into that container.
IMAGE_BROKER_GID = 1883
PASSWD_MODE = 0o640  # the owner writes, the broker's group reads, nobody else sees the hashes


def reserved_accounts(acl_file: Path = DEFAULT_ACL) -> frozenset[str]:
    """Accounts the ACL names with `user` lines: a device with one of these ids would get its grants."""
    names = {GATEWAY_ACCOUNT}
    if acl_file.exists():
        names.update(re.findall(r"^\s*user\s+(\S+)", acl_file.read_text(), flags=re.MULTILINE))
    return frozenset(names)


def broker_gid(group: str | None) -> int:
    """The group the broker reads its files as: a name, a number, or by default `mosquitto` (else the image's)."""
    if group is not None and group.isdigit():
        return int(group)
    try:
        return grp.getgrnam(group or "mosquitto").gr_gid
    except KeyError:
        if group is not None:
            raise ValueError(f"no group {group!r} on this machine (give its number instead)") from None
        return IMAGE_BROKER_GID


def set_password(passwd_file: Path, username: str, password: str, *, gid: int | None = None) -> None:
    """Add or replace one account in a Mosquitto password file (hashed by mosquitto_passwd).

    The password goes to mosquitto_passwd on its standard input, as at its prompt, not as an
    argument (`-b`), which the process list would show. The file ends up 0640 in the broker's
    group (`gid`; the owner's own group when None).
    """
    if not password or any(c in password for c in "\r\n\0"):
        raise ValueError("a password must be one non-empty line")
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        raise SystemExit("mosquitto_passwd not found: sudo apt-get install mosquitto")
    passwd_file.parent.mkdir(parents=True, exist_ok=True)
    create = [] if passwd_file.exists() else ["-c"]
    subprocess.run(
        [tool, *create, str(passwd_file), username],
        input=f"{password}\n{password}\n",
        text=True,
        check=True,
        capture_output=True,
    )
    passwd_file.chmod(PASSWD_MODE)
    if gid is not None and passwd_file.stat().st_gid != gid:
        try:
            os.chown(passwd_file, -1, gid)
        except PermissionError:
            print(
                f"warning: could not give group {gid} the file; the broker may not read it: chgrp {gid} {passwd_file}",
                file=sys.stderr,
            )


def provision_device(
    passwd_file: Path,
    device_id: str,
    password: str | None = None,
    *,
    gid: int | None = None,
    acl_file: Path = DEFAULT_ACL,
) -> str:
    """Create or rotate a device's broker account; returns its password."""
    if not DEVICE_ID_PATTERN.fullmatch(device_id):
        raise ValueError("device id must match [A-Za-z0-9_-]{1,64}")
    reserved = {name.lower() for name in reserved_accounts(acl_file)}
    if device_id.lower() in reserved:
        # The ACL's `user` grants would apply to it: a "device" named gateway reads every device.
        raise ValueError(f"device id {device_id!r} is reserved: the ACL grants that account more than a device")
    password = password or secrets.token_urlsafe(18)
    set_password(passwd_file, device_id, password, gid=gid)
    return password


def read_password(stdin: object = sys.stdin) -> str:
    """A chosen password: prompted for twice on a terminal, else the first line of standard input."""
    if getattr(stdin, "isatty", lambda: False)():
        first, second = getpass.getpass("password: "), getpass.getpass("again: ")
        if first != second:
            raise ValueError("the two passwords differ")
        return first
    return str(stdin.readline()).rstrip("\r\n")  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.provision", description=__doc__.split("\n\n")[0])
    parser.add_argument("--passwd-file", type=Path, default=DEFAULT_PASSWD)
    parser.add_argument("--acl-file", type=Path, default=DEFAULT_ACL, help="to know the reserved account names")
    parser.add_argument(
        "--broker-group",
        help=f"group the broker reads the file as (name or number; default mosquitto, else {IMAGE_BROKER_GID})",
    )
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input (prompted for on a terminal); default: a fresh random one",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    device = commands.add_parser("device", help="create or rotate a device account")
    device.add_argument("device_id")
    commands.add_parser("gateway", help="create or rotate the gateway's account")
    args = parser.parse_args(argv)
    try:
        gid = broker_gid(args.broker_group)
        chosen = read_password() if args.password_stdin else None
        if args.command == "device":
            password = provision_device(args.passwd_file, args.device_id, chosen, gid=gid, acl_file=args.acl_file)
            username = args.device_id
        else:
            username, password = GATEWAY_ACCOUNT, chosen or secrets.token_urlsafe(24)
            set_password(args.passwd_file, username, password, gid=gid)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    shown = "(as given)" if chosen else password
    print(f"username={username}\npassword={shown}\npasswd_file={args.passwd_file}", file=sys.stdout)


if __name__ == "__main__":
    main()
