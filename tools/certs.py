"""A private certificate authority and the certificates the stack's TLS listeners need.

    python -m tools.certs --out certs [--hosts mosquitto,kafka-1,kafka-2,kafka-3,dispatch,...]

Writes into `--out`: `ca.crt`/`ca.key` (the authority, made once and kept: delete it to
start over; ca.key never leaves this folder) and one server certificate naming every host of
the stack plus localhost and 127.0.0.1 (so the containers' own health checks verify it too),
in a folder per reader as docker-compose.yml mounts them: `mosquitto/` and `app/` (ca.crt,
server.crt, server.key) and `kafka/` (ca.crt, server.p12 the PKCS12 keystore, and its password
in keystore.password). Run as root, it gives each folder to the uid its container runs as.

Uses the openssl command line (Debian's `openssl`); the tests make their certificates
at run time through the same functions. Keys are written 0600 (docs/security.md).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

# docker-compose.yml's hostnames that serve TLS.
COMPOSE_HOSTS = (
    "mosquitto",
    "kafka-1",
    "kafka-2",
    "kafka-3",
    "dispatch",
    "care-record",
    "monitoring",
    "gateway",
    "gateway-alarms",
    "watch",
)
# Short-lived enough that a leaked key expires; long enough not to surprise an operator.
DEFAULT_DAYS = 825


@dataclass(frozen=True)
class KeyPair:
    cert: Path
    key: Path


def _openssl(*args: str, stdin: str | None = None) -> None:
    tool = shutil.which("openssl")
    if tool is None:
        raise SystemExit("openssl not found: sudo apt-get install openssl")
    result = subprocess.run([tool, *args], input=stdin, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {result.stderr.strip()[-2000:]}")


def _private_key(path: Path) -> None:
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path))
    path.chmod(0o600)


def make_ca(directory: Path, *, name: str = "eldercare-ca", days: int = DEFAULT_DAYS) -> KeyPair:
    """A self-signed certificate authority in `directory` (ca.crt, ca.key)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = KeyPair(directory / "ca.crt", directory / "ca.key")
    _private_key(ca.key)
    _openssl(
        "req", "-x509", "-new", "-key", str(ca.key), "-out", str(ca.cert), "-days", str(days),
        "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    return ca


def _san(host: str) -> str:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return f"DNS:{host}"
    return f"IP:{host}"


def issue(
    ca: KeyPair,
    directory: Path,
    name: str,
    *,
    hosts: tuple[str, ...] = (),
    client: bool = False,
    days: int = DEFAULT_DAYS,
) -> KeyPair:
    """A certificate signed by `ca` for a server (naming `hosts`) or, with `client`, a client called `name`."""
    directory.mkdir(parents=True, exist_ok=True)
    pair = KeyPair(directory / f"{name}.crt", directory / f"{name}.key")
    _private_key(pair.key)
    csr = directory / f"{name}.csr"
    _openssl("req", "-new", "-key", str(pair.key), "-out", str(csr), "-subj", f"/CN={name}")
    usage = "clientAuth" if client else "serverAuth"
    extensions = [f"extendedKeyUsage={usage}", "basicConstraints=CA:FALSE"]
    if hosts:
        extensions.append("subjectAltName=" + ",".join(_san(host) for host in hosts))
    extfile = directory / f"{name}.ext"
    extfile.write_text("\n".join(extensions) + "\n")
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca.cert), "-CAkey", str(ca.key), "-CAcreateserial",
        "-out", str(pair.cert), "-days", str(days), "-extfile", str(extfile),
    )  # fmt: skip
    csr.unlink()
    extfile.unlink()
    return pair


def keystore(pair: KeyPair, ca: KeyPair, path: Path, password: str) -> Path:
    """`pair` with its chain as a PKCS12 keystore (what a Kafka broker's `ssl.keystore.location` reads)."""
    _openssl(
        "pkcs12", "-export", "-in", str(pair.cert), "-inkey", str(pair.key), "-certfile", str(ca.cert),
        "-name", "server", "-out", str(path), "-passout", "stdin",
        stdin=password + "\n",
    )  # fmt: skip
    path.chmod(0o600)
    return path


# Who reads each folder in docker-compose.yml: the uid its container runs as.
OWNERS = {"mosquitto": 1883, "kafka": 1000, "app": 10001}


def stack_certificates(
    out: Path, hosts: tuple[str, ...] = COMPOSE_HOSTS, *, keystore_password: str | None = None
) -> dict[str, Path]:
    """The authority (kept if present) and one server certificate for every host named, laid out
    one folder per reader: mosquitto/ (PEM), kafka/ (PKCS12 keystore), app/ (PEM, for HTTPS)."""
    if (out / "ca.crt").exists() and (out / "ca.key").exists():
        ca = KeyPair(out / "ca.crt", out / "ca.key")
    else:
        ca = make_ca(out)
    server = issue(ca, out, "server", hosts=(*hosts, "localhost", "127.0.0.1"))
    written: dict[str, Path] = {"ca": ca.cert}
    for reader in ("mosquitto", "app"):
        folder = out / reader
        folder.mkdir(exist_ok=True)
        for source in (ca.cert, server.cert, server.key):
            shutil.copy2(source, folder / source.name)
        written[reader] = folder
    kafka = out / "kafka"
    kafka.mkdir(exist_ok=True)
    shutil.copy2(ca.cert, kafka / "ca.crt")
    password = keystore_password or secrets.token_urlsafe(18)
    keystore(server, ca, kafka / "server.p12", password)
    # The apache/kafka image reads the keystore's and the key's password from a file beside it.
    (kafka / "keystore.password").write_text(password)
    (kafka / "keystore.password").chmod(0o600)
    written["kafka"] = kafka
    return written


def hand_over(out: Path) -> list[str]:
    """Give each reader's folder to the uid its container runs as; what to run instead when not root."""
    commands = [f"chown -R {uid}:{uid} {out / reader}" for reader, uid in OWNERS.items()]
    if os.geteuid() != 0:
        return commands
    for reader, uid in OWNERS.items():
        for path in (out / reader, *(out / reader).iterdir()):
            os.chown(path, uid, uid)
    return []


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.certs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("certs"))
    parser.add_argument("--hosts", default=",".join(COMPOSE_HOSTS), help="comma-separated names the certificate covers")
    args = parser.parse_args(argv)
    hosts = tuple(host.strip() for host in args.hosts.split(",") if host.strip())
    for role, path in stack_certificates(args.out, hosts).items():
        print(f"{role}: {path}")
    pending = hand_over(args.out)
    if pending:
        print("not root: give each folder to its container's user with\n  sudo " + "\n  sudo ".join(pending))


if __name__ == "__main__":
    main()
