"""Audit requirements.txt for known vulnerabilities with pip-audit (scripts/test.sh).

Exit status:
  0  no known vulnerability, or the vulnerability service could not be asked (no network,
     or it did not answer for a package): then the packages left unaudited are listed
     under a loud "NOT AUDITED" line, and the build goes on;
  1  a known vulnerability that is not explained in ``EXPLAINED`` below, or pip-audit
     failed for a reason other than the network.

requirements.txt pins every package, its dependencies included, so ``--no-deps`` audits
the whole install without resolving it again.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Vulnerability id → why it does not affect this app. Every entry is reviewed when the
# pinned version changes; SECURITY.md says how to add one.
EXPLAINED: dict[str, str] = {}

NETWORK_ERRORS = (
    "ConnectionError",
    "ConnectTimeout",
    "ReadTimeout",
    "Max retries exceeded",
    "NewConnectionError",
    "Name or service not known",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "Connection refused",
    "timed out",
    "ProxyError",
    "SSLError",
)


def verdict(report: dict | None, returncode: int, stderr: str) -> tuple[int, list[str]]:
    """The exit status and the lines to print for one pip-audit run."""
    if report is None:
        if any(marker in stderr for marker in NETWORK_ERRORS):
            return 0, [
                "pip-audit: NOT AUDITED - the vulnerability service cannot be reached "
                "from this machine (network error); no package was checked.",
                *stderr.strip().splitlines()[-3:],
            ]
        return returncode or 1, ["pip-audit failed:", *stderr.strip().splitlines()[-20:]]
    deps = report.get("dependencies", [])
    lines, failed = [], False
    for dep in deps:
        for vuln in dep.get("vulns", []):
            ids = [vuln.get("id", "?"), *vuln.get("aliases", [])]
            why = next((EXPLAINED[i] for i in ids if i in EXPLAINED), None)
            fixed = ", ".join(vuln.get("fix_versions", [])) or "none yet"
            state = f"explained: {why}" if why else "FAIL"
            lines.append(
                f"pip-audit: {dep['name']} {dep.get('version', '?')}: {ids[0]} "
                f"(fixed in {fixed}) - {state}"
            )
            failed = failed or why is None
    skipped = [d for d in deps if d.get("skip_reason")]
    if skipped:
        lines.append(
            f"pip-audit: NOT AUDITED - {len(skipped)} of {len(deps)} packages: the "
            "vulnerability service did not answer for them:"
        )
        lines += [f"  {d['name']}: {d['skip_reason']}" for d in skipped]
    audited = len(deps) - len(skipped)
    if audited and not failed:
        lines.append(f"pip-audit: {audited} package(s) audited, no unexplained vulnerability.")
    return (1 if failed else 0), lines


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "audit.json"
        command = [
            sys.executable,
            "-m",
            "pip_audit",
            "--requirement",
            str(ROOT / "requirements.txt"),
            "--no-deps",
            "--progress-spinner",
            "off",
            "--format",
            "json",
            "--output",
            str(output),
            *argv,
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=600)  # noqa: S603
            returncode, stderr = done.returncode, done.stderr
        except subprocess.TimeoutExpired:
            returncode, stderr = 1, "pip-audit timed out"
        text = output.read_text() if output.exists() else ""
    report = json.loads(text) if text.strip() else None
    status, lines = verdict(report, returncode, stderr)
    print("\n".join(lines))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
