"""pip-audit over requirements/dev.lock (the runtime lock is a subset), honest about what it could not check.

Exit 0: every pinned package was checked and none has a known vulnerability.
Exit 1: a known vulnerability (or pip-audit itself failed).
Exit 2: no vulnerability found, but some packages could NOT be audited (not on the
vulnerability service, or the service unreachable): that is not a clean bill, and
it is reported as such, never as "no known vulnerabilities".

AUDIT_SERVICE picks the service (`pypi` default: PyPI's JSON API is reachable where
OSV is not; `osv` elsewhere).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    service = os.environ.get("AUDIT_SERVICE", "pypi")
    argv = [
        str(Path(sys.executable).with_name("pip-audit")),
        "--requirement",
        str(ROOT / "requirements" / "dev.lock"),
        "--no-deps",  # the lock file pins the whole tree already
        "--require-hashes",
        "--disable-pip",
        "--vulnerability-service",
        service,
        "--format",
        "json",
        "--progress-spinner",
        "off",
    ]
    completed = subprocess.run(argv, capture_output=True, text=True, check=False)
    try:
        report = json.loads(completed.stdout)
    except json.JSONDecodeError:
        print(completed.stdout + completed.stderr, file=sys.stderr)
        print(f"pip-audit failed (exit {completed.returncode}); dependencies NOT audited", file=sys.stderr)
        return 1
    vulnerable = [d for d in report["dependencies"] if d.get("vulns")]
    skipped = [d for d in report["dependencies"] if d.get("skip_reason")]
    audited = len(report["dependencies"]) - len(skipped)
    for dep in vulnerable:
        for vuln in dep["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions") or []) or "no fix yet"
            print(f"VULNERABLE {dep['name']} {dep['version']}: {vuln['id']} (fixed in: {fixes})")
    print(
        f"pip-audit ({service}): {audited} packages audited, {len(vulnerable)} vulnerable, "
        f"{len(skipped)} NOT audited"
    )
    if skipped:
        reasons = sorted({d["skip_reason"].split(":")[0] for d in skipped})
        print(f"  not audited: {', '.join(d['name'] for d in skipped)}")
        print(f"  why: {'; '.join(reasons)}")
    if vulnerable:
        return 1
    return 2 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
