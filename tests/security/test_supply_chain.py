"""Supply chain: every runtime package pinned (its dependencies too), the security tools
pinned, and the audit step fails on a vulnerability but not on a missing network."""

from __future__ import annotations

import importlib.util
import re
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[a-z,]+\])?==[0-9][^\s;]*$")


def _lines(name: str) -> list[str]:
    lines = (ROOT / name).read_text().splitlines()
    return [s for s in (line.split("#")[0].strip() for line in lines) if s]


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_requirements_are_pinned_exactly():
    for name in ("requirements.txt", "requirements-dev.txt"):
        for line in _lines(name):
            if line.startswith("-r "):
                continue
            assert PIN.match(line), f"{name}: {line!r} is not pinned with =="


def test_requirements_pin_every_dependency_of_the_app():
    """The installed dependencies of every listed package are listed too, so that
    `pip-audit --no-deps` sees the whole install and an install is reproducible."""
    listed = {
        _key(Requirement(line).name): Requirement(line) for line in _lines("requirements.txt")
    }
    env = default_environment()
    missing = set()
    for req in list(listed.values()):
        try:
            dist = distribution(req.name)
        except PackageNotFoundError:
            continue
        extras = [""] + sorted(req.extras)
        for spec in dist.requires or []:
            dep = Requirement(spec)
            wanted = dep.marker is None or any(
                dep.marker.evaluate({**env, "extra": e}) for e in extras
            )
            if wanted and _key(dep.name) not in listed:
                missing.add(f"{_key(dep.name)} (needed by {req.name})")
    assert not missing, f"pin these in requirements.txt: {sorted(missing)}"


def test_security_tools_are_pinned_for_ci():
    dev = {_key(Requirement(line).name) for line in _lines("requirements-dev.txt") if "==" in line}
    assert {"bandit", "pip-audit", "schemathesis"} <= dev
    script = (ROOT / "scripts" / "test.sh").read_text()
    assert "bandit -q -r quizapp -c pyproject.toml" in script
    assert "scripts/audit_requirements.py" in script


def _audit():
    spec = importlib.util.spec_from_file_location("audit", ROOT / "scripts/audit_requirements.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_audit_fails_on_a_known_vulnerability():
    report = {
        "dependencies": [
            {"name": "flask", "version": "3.1.3", "vulns": []},
            {
                "name": "werkzeug",
                "version": "3.1.9",
                "vulns": [{"id": "PYSEC-0000-1", "fix_versions": ["3.1.10"], "aliases": []}],
            },
        ]
    }
    status, lines = _audit().verdict(report, 1, "")
    assert status == 1 and any("PYSEC-0000-1" in line and "FAIL" in line for line in lines)


def test_audit_accepts_an_explained_vulnerability(monkeypatch):
    audit = _audit()
    monkeypatch.setitem(audit.EXPLAINED, "GHSA-xxxx", "only the CLI is affected; unused")
    report = {
        "dependencies": [
            {"name": "x", "version": "1", "vulns": [{"id": "PYSEC-1", "aliases": ["GHSA-xxxx"]}]}
        ]
    }
    status, lines = audit.verdict(report, 1, "")
    assert status == 0 and "explained" in lines[0]


def test_audit_reports_but_passes_when_the_service_is_unreachable():
    audit = _audit()
    status, lines = audit.verdict(
        None, 1, "requests.exceptions.ConnectionError: Max retries exceeded with url"
    )
    assert status == 0 and "NOT AUDITED" in lines[0]
    skipped = {
        "dependencies": [
            {
                "name": "flask",
                "skip_reason": "Dependency not found on PyPI and could not be audited",
            }
        ]
    }
    status, lines = audit.verdict(skipped, 0, "")
    assert status == 0 and "NOT AUDITED" in lines[0]


def test_audit_fails_when_pip_audit_itself_fails():
    status, _lines = _audit().verdict(None, 2, "ERROR: invalid requirement: 'flask=='")
    assert status != 0
