"""gunicorn.conf.py: the settings it gives, and the open-file limit it raises.

Each case reads the file in a child process (it reads os.environ and sets the process's
limit), so this test process keeps its own environment and limits."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

_READ = """
import json, resource, runpy
conf = runpy.run_path("gunicorn.conf.py")
print(json.dumps({
    "workers": conf["workers"],
    "threads": conf["threads"],
    "worker_connections": conf["worker_connections"],
    "nofile": list(resource.getrlimit(resource.RLIMIT_NOFILE)),
}))
"""


def _settings(env: dict[str, str], soft_limit: int | None = None) -> dict:
    def lower_limit() -> None:  # in the child, before it reads the file
        if soft_limit is not None:
            _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft_limit, hard))

    base = {k: v for k, v in os.environ.items() if k not in _SETTINGS}
    out = subprocess.run(
        [sys.executable, "-c", _READ],
        cwd=ROOT,
        env={**base, **env},
        preexec_fn=lower_limit,  # noqa: PLW1509 - no threads in the child yet
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(out.stdout)


_SETTINGS = ("DATABASE_URL", "WEB_CONCURRENCY", "GUNICORN_THREADS", "WORKER_CONNECTIONS")


def test_connections_in_all_stay_at_8000_whatever_the_worker_count():
    assert _settings({"WEB_CONCURRENCY": "4"})["worker_connections"] == 2000
    assert _settings({"WEB_CONCURRENCY": "2"})["worker_connections"] == 4000
    assert _settings({"WEB_CONCURRENCY": "16"})["worker_connections"] == 1000
    assert _settings({"WORKER_CONNECTIONS": "300"})["worker_connections"] == 300


def test_threads_by_database():
    assert _settings({})["threads"] == 2
    assert _settings({"DATABASE_URL": "postgresql+psycopg://u@/db"})["threads"] == 4
    assert _settings({"GUNICORN_THREADS": "3"})["threads"] == 3


def test_soft_open_file_limit_raised_for_the_connections():
    """systemd starts a service with a soft limit of 1,024 open files: with 4 workers of
    2,000 connections each, a worker would fail its accepts at about a thousand
    phones. The config raises the soft limit (never above the hard one)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2048:
        pytest.skip(f"hard open-file limit {hard} leaves nothing to raise")
    got = _settings({"WEB_CONCURRENCY": "4"}, soft_limit=1024)
    wanted = 4 * 2000 + 1024
    expected = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    assert got["nofile"] == [expected, hard]


def test_a_soft_limit_already_high_enough_is_left_alone():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < 4 * 2000 + 1024:
        pytest.skip(f"soft open-file limit {soft} is below what 4 workers want")
    assert _settings({"WEB_CONCURRENCY": "4"})["nofile"] == [soft, hard]
