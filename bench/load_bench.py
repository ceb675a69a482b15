"""Load benchmark: real gunicorn processes on loopback and an asyncio aiohttp client.

For each backend (SQLite, the embedded default; PostgreSQL with Redis) it builds a fresh
instance (``flask db upgrade``, ``bank load``, ``demo --json`` in a temporary
INSTANCE_PATH; on PostgreSQL a fresh database, dropped afterwards), starts gunicorn with
``gunicorn.conf.py`` on 127.0.0.1 and measures:

(a) answer-save throughput (PUT /api/v1/attempts/<token>/answers/<n>, many attempts in
    rotation, a fixed number of connections) against bench/bare_app.py — a bare Flask
    endpoint of the same shape served by the same gunicorn settings in the same run —
    in alternating windows (bare, save, save, bare ...); the ratio is the median of the
    pairs' ratios, so that the machine's drift in speed between minutes cancels out;
(b) a start burst: N simulated phones join within a window (GET the event, POST a join
    with a distinct name and phone and a unit), answer every question with random think
    time, then submit; one event screen polls every 3 s meanwhile. With ``--flow pages``
    the phones join as a QR code scanned in WeChat makes them: the join page, its form
    (with the page's CSRF token and the phone's own session cookie), the quiz page, whose
    questions they then answer through the API as static/js/quiz.js does. Errors are every
    non-2xx answer or exception; an answer is lost when it was acknowledged (200) but the
    database does not hold it afterwards (one SQL query over the competition);
(c) sustained answering, open loop, at 80 % of the maximum measured in (a); latency is
    counted from each request's scheduled time, so a lagging server is not hidden;
(d) each gunicorn worker's RSS (/proc/<pid>/status VmRSS) after the burst;
(e) the participant quiz page's transfer: /a/<token> and every same-origin asset it
    references (stylesheets, scripts, their imports and url()s), and any reference to
    another host.
It also counts, in the gunicorn log, "database is locked", tracebacks, worker timeouts
and worker restarts (max_requests).

The load generator and the server share the machine's cores: on a 2-core machine the
client's own CPU time (printed) is taken from the server. The client runs on uvloop
(``--client-loop asyncio`` for asyncio's own loop, as before session 12), which takes
less of that time.

Run: .venv/bin/python bench/load_bench.py [--quick] [--write] [--backend sqlite|postgres|both]
     [--n PHONES] [--workers W] [--threads T] [--think LOW,HIGH] [--window S]
     [--flow api|pages] [--client-loop uvloop|asyncio]
     [--only-a | --stop-after a|c] [--pairs K] [--compare NAME=VALUE ...]
``--quick`` is the CI smoke run (N=50, short think times, seconds per phase).
``--only-a`` measures (a) and stops (``--stop-after a``; ``--stop-after c`` also
measures (c), without the start burst); ``--pairs K`` gives (a) K windows of each kind;
``--compare NAME=VALUE`` (repeatable) adds a second app server with that setting in its
environment, on the same database, to (a)'s rotation of windows, so that two settings
are compared within the same minutes of the machine (e.g. ``FAST_ANSWER_SAVE=0``).
``--write`` appends the tables, the machine and the gunicorn settings to bench/RESULTS.md.
Exit status 1 only when the run is broken, never on timing: an acknowledged answer or
submit missing from the database, a 5xx from the app, "database is locked" in the log,
or no answer acknowledged at all (a crash of the benchmark itself also exits non-zero).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import platform
import random
import re
import runpy
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import aiohttp
import httpx
import orjson
from multidict import CIMultiDictProxy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # quizapp.leaderboards.cache for drop()
BIN = Path(sys.executable).parent  # the virtualenv's bin: flask and gunicorn
PG_ADMIN_URL = os.environ.get("QUIZ_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
# The app reaches a PostgreSQL on its own machine through the server's Unix socket (as
# deploy/quizapp.env.example does): a round trip over it costs the app and the server
# about 40 % less CPU than over TCP loopback. --pg-tcp measures TCP instead.
PG_SOCKET_DIR = os.environ.get("BENCH_PG_SOCKET_DIR", "/var/run/postgresql")
PG_OVER_TCP = False  # set by --pg-tcp
CLK_TCK = os.sysconf("SC_CLK_TCK")
# Where flask and gunicorn run from: a copy of the code taken when the run starts (see
# copy_code()), so that code edited on disk meanwhile never mixes into a run (a worker
# recycled by max_requests imports the app afresh).
SRC = ROOT

GOAL_RATIO = 0.5  # answer save vs bare Flask
GOAL_BURST_P99_S = 1.0
GOAL_SUSTAINED_P99_S = 0.3
GOAL_RSS_MB = 100
GOAL_PAGE_KB = 60  # 1 KB = 1,000 bytes


@dataclass(frozen=True)
class Sizes:
    rotation_attempts: int  # (a) attempts whose answers are saved in rotation
    connections: int  # (a) client connections
    warmup_s: float
    throughput_s: float  # (a) one window
    pairs: int  # (a) bare and save windows, alternating, this many of each
    sustained_s: float
    sustained_connections: int
    burst_n: int
    burst_window_s: float  # every phone joins within this window
    think_s: tuple[float, float]
    burst_connections: int  # at most this many client connections (a pool shared by phones)
    burst_timeout_s: float


FULL = Sizes(100, 32, 2.0, 6.0, 3, 30.0, 128, 5000, 10.0, (1.0, 3.0), 1000, 600.0)
QUICK = Sizes(10, 16, 0.5, 1.0, 2, 3.0, 32, 50, 2.0, (0.05, 0.2), 50, 20.0)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))]


def ms(seconds: float) -> str:
    return "—" if math.isnan(seconds) else f"{seconds * 1000:,.0f} ms"


def lat3(values: list[float]) -> str:
    return " / ".join(ms(pct(values, p)) for p in (50, 95, 99))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------- processes


def _stat_fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()  # fields from "state" (3rd) on


def cpu_seconds(pid: int, *, children: bool = False) -> float:
    fields = _stat_fields(pid)
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime: reaped children
    return ticks / CLK_TCK


def machine_seconds() -> tuple[float, float]:
    """(CPU seconds every process on the machine has used, CPU seconds the host took from
    this virtual machine: "steal"), all cores, from /proc/stat."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq) / CLK_TCK, steal / CLK_TCK


@dataclass(frozen=True)
class Usage:
    """Cores used between two snapshots by the server, this load generator and the rest."""

    seconds: float
    server_s: float
    client_s: float
    other_s: float
    stolen_s: float = 0.0  # taken by the host of a virtual machine (a noisy neighbour)

    def describe(self) -> str:
        w = self.seconds or 1.0
        return (
            f"server {self.server_s / w:.2f} cores, load generator {self.client_s / w:.2f}, "
            f"other processes {max(0.0, self.other_s) / w:.2f}, "
            f"stolen by the host {self.stolen_s / w:.2f} (of {os.cpu_count()})"
        )


def snapshot(server) -> tuple[float, ...]:
    return time.perf_counter(), server.cpu(), time.process_time(), *machine_seconds()


def usage(a: tuple[float, ...], b: tuple[float, ...]) -> Usage:
    server, client = b[1] - a[1], b[2] - a[2]
    return Usage(b[0] - a[0], server, client, (b[3] - a[3]) - server - client, b[4] - a[4])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


def copy_code(dest: Path) -> Path:
    """Copy what the servers and the CLI load (app, migrations, bank, entry points)."""
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("quizapp", "migrations", "question_bank"):
        shutil.copytree(ROOT / name, dest / name, ignore=skip)
    for name in ("wsgi.py", "gunicorn.conf.py", "bench/bare_app.py"):
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, dest / name)
    return dest


def gunicorn_settings(env: dict[str, str]) -> dict:
    """The settings gunicorn.conf.py gives under ``env`` (it reads os.environ)."""
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        conf = runpy.run_path(str(SRC / "gunicorn.conf.py"))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    keys = (
        "workers",
        "threads",
        "worker_connections",
        "worker_class",
        "timeout",
        "graceful_timeout",
        "keepalive",
        "max_requests",
        "max_requests_jitter",
        "accesslog",
    )
    return {k: conf[k] for k in keys if k in conf}


class Server:
    """One gunicorn master with its workers, started and stopped by this process only."""

    def __init__(self, name: str, app_spec: str, env: dict[str, str], workdir: Path) -> None:
        self.name, self.app_spec, self.env = name, app_spec, env
        self.log_path = workdir / f"gunicorn-{name}.log"
        self.workers = gunicorn_settings(env)["workers"]
        self.proc: subprocess.Popen | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        self.port = free_port()
        env = {**self.env, "BIND": f"127.0.0.1:{self.port}"}
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(BIN / "gunicorn"), "-c", str(SRC / "gunicorn.conf.py"), self.app_spec],
                cwd=SRC,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        last_cpu = -1.0
        with httpx.Client(trust_env=False, timeout=5) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"gunicorn ({self.name}) exited:\n{self.log_tail()}")
                time.sleep(0.3)
                pids = self.worker_pids()
                if len(pids) != self.workers:
                    continue
                try:
                    healthy = client.get(f"{self.url}/healthz").status_code == 200
                except httpx.HTTPError:
                    continue
                cpu = self.cpu()
                if healthy and cpu - last_cpu < 0.02:  # every worker has loaded the app
                    return
                last_cpu = cpu
        raise RuntimeError(f"gunicorn ({self.name}) did not start:\n{self.log_tail()}")

    def worker_pids(self) -> list[int]:
        if self.proc is None:
            return []
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        with contextlib.suppress(OSError):
            return [int(p) for p in path.read_text().split()]
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                if int(_stat_fields(int(stat.parent.name))[1]) == self.proc.pid:
                    pids.append(int(stat.parent.name))
        return pids

    def cpu(self) -> float:
        """CPU seconds of the master, its live workers and the workers it has reaped."""
        total = cpu_seconds(self.proc.pid, children=True)
        for pid in self.worker_pids():
            with contextlib.suppress(OSError):
                total += cpu_seconds(pid)
        return total

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # our own child's process group
            self.proc.wait(timeout=10)

    def wait_idle(self, timeout: float = 120.0) -> float:
        """Wait (bounded) until the workers stop working off queued requests; seconds."""
        start = time.monotonic()
        last = self.cpu()
        while time.monotonic() - start < timeout:
            time.sleep(1.0)
            now = self.cpu()
            if now - last < 0.05:
                break
            last = now
        return time.monotonic() - start

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def restart_times(self) -> list[float]:
        """Wall-clock times of the "Autorestarting worker" (max_requests) log lines."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        stamps = re.findall(
            r"^\[([0-9-]+ [0-9:]+) ([+-]\d{4})\] \[\d+\] \[INFO\] Autorestarting", text, re.M
        )
        return [
            datetime.strptime(f"{day} {zone}", "%Y-%m-%d %H:%M:%S %z").timestamp()
            for day, zone in stamps
        ]

    def log_findings(self) -> dict[str, int]:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return {
            "database is locked": text.count("database is locked"),
            "tracebacks": text.count("Traceback (most recent call last)"),
            "worker timeouts": text.count("WORKER TIMEOUT"),
            "worker restarts (max_requests)": text.count("Autorestarting worker"),
        }


# ---------------------------------------------------------------- the instance


@dataclass
class Instance:
    backend: str
    workdir: Path
    env: dict[str, str]
    demo: dict
    database: str  # SQLite file path or PostgreSQL URL for the lost-answer check
    pg_name: str | None = None

    @property
    def join_token(self) -> str:
        return self.demo["events"][0]["join_token"]

    @property
    def screen_token(self) -> str:
        return self.demo["events"][0]["screen_token"]


def _flask(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "flask"), "--app", "quizapp", *args],
        cwd=SRC,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    if done.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql)


def pg_socket() -> str | None:
    """The PostgreSQL server's Unix socket folder when the app should use it: the server
    is on this machine (the admin URL names a loopback host) and its socket is there."""
    admin = urlsplit(PG_ADMIN_URL)
    local = admin.hostname in ("127.0.0.1", "localhost", "::1")
    port = admin.port or 5432
    if PG_OVER_TCP or not local or not Path(PG_SOCKET_DIR, f".s.PGSQL.{port}").exists():
        return None
    return PG_SOCKET_DIR


def app_database_url(name: str) -> str:
    """The app's DATABASE_URL for the run's database ``name``."""
    admin = urlsplit(PG_ADMIN_URL)
    user = f"{admin.username}@" if admin.username else ""
    socket = pg_socket()
    if socket is not None:
        query = f"?host={socket}" + (f"&port={admin.port}" if admin.port else "")
        return f"postgresql+psycopg://{user}/{name}{query}"
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    return f"{base}/{name}"


def server_env(overrides: dict[str, str]) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "INSTANCE_PATH", "PUBLIC_BASE_URL", "BIND")
    }
    env.update(overrides)
    return env


def prepare(backend: str, workdir: Path, overrides: dict[str, str]) -> Instance:
    instance = workdir / "instance"
    env = server_env({**overrides, "INSTANCE_PATH": str(instance)})
    pg_name = None
    if backend == "postgres":
        pg_name = f"quizapp_bench_{secrets.token_hex(4)}"
        _pg_admin(f'CREATE DATABASE "{pg_name}"')
        env["DATABASE_URL"] = app_database_url(pg_name)
        env["REDIS_URL"] = REDIS_URL
        database = env["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    else:
        database = str(instance / "quizapp.sqlite3")
    inst = Instance(backend, workdir, env, {}, database, pg_name)
    try:
        _flask(env, "db", "upgrade")
        _flask(env, "bank", "load")
        inst.demo = json.loads(_flask(env, "demo", "--json"))
    except BaseException:
        drop(inst)
        raise
    return inst


def drop(inst: Instance) -> None:
    """Leave the shared services as found: the run's database, its screen boards and rank
    index in Redis (keyed by a hash of the database URL, see quizapp.leaderboards.cache)."""
    if inst.env.get("REDIS_URL") and inst.env.get("DATABASE_URL"):
        from quizapp.leaderboards.cache import forget_database

        forget_database(inst.env["REDIS_URL"], inst.env["DATABASE_URL"])
    if inst.pg_name:
        _pg_admin(f'DROP DATABASE IF EXISTS "{inst.pg_name}" WITH (FORCE)')
        inst.pg_name = None


def stored_attempts(inst: Instance) -> dict[str, tuple[str, dict[int, str | None]]]:
    """token -> (status, {position: choice}) for every attempt of the demo competition."""
    sql = (
        "SELECT a.token, a.status, i.position, i.choice FROM attempts a "
        "JOIN attempt_items i ON i.attempt_id = a.id WHERE a.competition_id = {p}"
    )
    comp = inst.demo["competition_id"]
    if inst.backend == "postgres":
        import psycopg

        with psycopg.connect(inst.database, connect_timeout=10) as conn:
            rows = conn.execute(sql.format(p="%s"), (comp,)).fetchall()
    else:
        conn = sqlite3.connect(f"file:{inst.database}?mode=ro", uri=True, timeout=30)
        try:
            rows = conn.execute(sql.format(p="?"), (comp,)).fetchall()
        finally:
            conn.close()
    out: dict[str, tuple[str, dict[int, str | None]]] = {}
    for token, status, position, choice in rows:
        out.setdefault(token, (status, {}))[1][position] = choice
    return out


# ---------------------------------------------------------------- the client


@dataclass
class Stats:
    latency: dict[str, list[float]] = field(default_factory=dict)
    # when each request of ``latency`` was sent (time.perf_counter()), in the same order
    sent: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter = field(default_factory=Counter)
    error_times: list[float] = field(default_factory=list)  # wall clock (time.time())
    server_errors: int = 0  # 5xx

    def error_count(self, kind: str | None = None) -> int:
        return sum(n for k, n in self.errors.items() if kind is None or k.startswith(kind + " "))

    def merge(self, other: Stats) -> None:
        for kind, values in other.latency.items():
            self.latency.setdefault(kind, []).extend(values)
        for kind, values in other.sent.items():
            self.sent.setdefault(kind, []).extend(values)
        self.errors.update(other.errors)
        self.error_times.extend(other.error_times)
        self.server_errors += other.server_errors


@dataclass
class Reply:
    """What the load generator keeps of a response (the body read in full)."""

    status_code: int
    headers: CIMultiDictProxy
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self):
        return orjson.loads(self.content)  # (a third of the standard library's CPU)


def make_client(url: str, connections: int) -> aiohttp.ClientSession:
    """One aiohttp session: at most ``connections`` keep-alive connections, shared by every
    phone that uses it (as phones behind one venue proxy); a request waits for a free
    connection without limit, and that wait counts in its latency. aiohttp costs the load
    generator about 0.14 ms of CPU per request against httpx's 2.4 ms (measured on this
    machine, bare endpoint, 32 connections), so the server, not the client, is measured."""
    return aiohttp.ClientSession(
        base_url=url,
        connector=aiohttp.TCPConnector(
            limit=connections,
            keepalive_timeout=15.0,  # below gunicorn's keepalive (20 s): no close race
            use_dns_cache=False,
        ),
        # Phones send their own session cookie (they share connections and sessions).
        cookie_jar=aiohttp.DummyCookieJar(),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=15.0, sock_read=60.0),
        trust_env=False,  # loopback only: never a proxy from the environment
        auto_decompress=False,
    )


class Clients:
    """``connections`` connections in one session; ``clients[i]`` is phone i's."""

    def __init__(self, url: str, connections: int) -> None:
        self.session = make_client(url, connections)

    def __getitem__(self, i: int) -> aiohttp.ClientSession:
        return self.session

    async def __aenter__(self) -> Clients:
        return self

    async def __aexit__(self, *_exc) -> None:
        await self.session.close()


async def call(
    client: aiohttp.ClientSession,
    stats: Stats,
    kind: str,
    method: str,
    path: str,
    body: dict | None = None,
    started: float | None = None,
    *,
    form: dict | None = None,
    headers: dict | None = None,
    redirect_ok: bool = False,
) -> Reply | None:
    """One request; its latency (from ``started``, default now) goes under ``kind``.
    ``body`` is sent as JSON, ``form`` as a form. Returns the response when it is 2xx
    (or a 3xx with ``redirect_ok``), else counts the error and returns None."""
    t0 = time.perf_counter() if started is None else started
    try:
        async with client.request(
            method, path, json=body, data=form, headers=headers, allow_redirects=False
        ) as r:
            response = Reply(r.status, r.headers, await r.read())
    except (aiohttp.ClientError, TimeoutError) as exc:
        stats.errors[f"{kind} {type(exc).__name__}"] += 1
        stats.error_times.append(time.time())
        return None
    stats.latency.setdefault(kind, []).append(time.perf_counter() - t0)
    stats.sent.setdefault(kind, []).append(t0)
    if 200 <= response.status_code < 300 or (redirect_ok and 300 <= response.status_code < 400):
        return response
    code = ""
    with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
        code = " " + response.json()["error"]["code"]
    stats.errors[f"{kind} {response.status_code}{code}"] += 1
    stats.error_times.append(time.time())
    stats.server_errors += response.status_code >= 500
    return None


# What a phone's browser reads from the pages (the page hooks of shared/API.md).
_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
_UNIT = re.compile(r'<option value="(\d+)"')
_ATTEMPT_URL = re.compile(r"/a/([A-Za-z0-9_-]+)")
_QUESTION = re.compile(r'data-pos="(\d+)" data-type="(\w+)"')
_INPUT = re.compile(r'name="q(\d+)" value="([A-Z]+)"')


def _session_cookie(response: Reply) -> str:
    for header in response.headers.getall("set-cookie", []):
        if header.startswith("session="):
            return header.split(";", 1)[0]
    return ""


def questions_on_page(html: str) -> list[dict]:
    """The questions of a quiz page as the API shows them (position, type, option keys)."""
    questions = {
        int(pos): {"position": int(pos), "type": qtype, "options": []}
        for pos, qtype in _QUESTION.findall(html)
    }
    for pos, key in _INPUT.findall(html):
        questions[int(pos)]["options"].append({"key": key})
    return [questions[pos] for pos in sorted(questions)]


async def join_by_pages(client, stats: Stats, join_token: str, i: int) -> tuple | None:
    """What a phone does after scanning the QR code in WeChat: the join page, its form
    (then the redirect), the quiz page. Its own session cookie is sent by hand (phones
    share connections and so the client's cookie jar). Returns (token, questions)."""
    r = await call(client, stats, "event", "GET", f"/j/{join_token}")
    if r is None:
        return None
    page, cookie = r.text, _session_cookie(r)
    units = _UNIT.findall(page)
    form = {
        "csrf_token": _CSRF.search(page).group(1),
        "name": f"压测页{i}",
        "phone": f"14{i:09d}",
        "unit_id": units[i % len(units)] if units else "",
        "unit_name": "" if units else "压测单位",
    }
    headers = {"Cookie": cookie} if cookie else None
    r = await call(
        client,
        stats,
        "join",
        "POST",
        f"/j/{join_token}",
        form=form,
        headers=headers,
        redirect_ok=True,
    )
    if r is None:
        return None
    found = _ATTEMPT_URL.search(r.headers.get("location", ""))
    if r.status_code != 302 or found is None:
        stats.errors[f"join {r.status_code} no redirect to the quiz"] += 1
        return None
    token = found.group(1)
    r = await call(client, stats, "quiz page", "GET", f"/a/{token}", headers=headers)
    if r is None:
        return None
    return token, questions_on_page(r.text)


def choice_for(question: dict, rng: random.Random) -> str:
    keys = [option["key"] for option in question["options"]]
    if question["type"] == "multiple":
        return "".join(sorted(rng.sample(keys, rng.randint(1, len(keys)))))
    return rng.choice(keys)


def join_body(prefix: str, i: int, units: list[dict]) -> dict:
    return {
        "name": f"压测{prefix}{i}",
        "phone": f"{prefix}{i:0{11 - len(prefix)}d}",
        "unit_id": units[i % len(units)]["id"],
    }


async def join_many(url: str, inst: Instance, prefix: str, count: int) -> list[dict]:
    """``count`` attempts joined through the API (setup, not measured)."""
    stats = Stats()
    async with make_client(url, 8) as client:
        info = await call(client, stats, "event", "GET", f"/api/v1/events/{inst.join_token}")
        if info is None:
            raise RuntimeError(f"setup: event GET failed: {dict(stats.errors)}")
        units = info.json()["competition"]["units"]
        sem = asyncio.Semaphore(8)

        async def one(i: int):
            async with sem:
                path = f"/api/v1/events/{inst.join_token}/attempts"
                r = await call(client, stats, "join", "POST", path, join_body(prefix, i, units))
                return r.json()["attempt"] if r is not None else None

        attempts = await asyncio.gather(*(one(i) for i in range(count)))
    if stats.errors:
        raise RuntimeError(f"setup joins failed: {dict(stats.errors)}")
    return attempts


@dataclass
class Window:
    """What happened between two instants: requests completed, server and client CPU."""

    completed: int
    cpu: Usage
    stats: Stats

    @property
    def rate(self) -> float:
        return self.completed / self.cpu.seconds if self.cpu.seconds else 0.0

    @property
    def server_ms_per_request(self) -> float:
        return 1000 * self.cpu.server_s / self.completed if self.completed else math.nan


def combined(parts: list[Window]) -> Window:
    """Windows taken as one: their requests, CPU and latencies added up."""
    stats = Stats()
    for part in parts:
        stats.merge(part.stats)
    cpu = Usage(
        sum(p.cpu.seconds for p in parts),
        sum(p.cpu.server_s for p in parts),
        sum(p.cpu.client_s for p in parts),
        sum(p.cpu.other_s for p in parts),
        sum(p.cpu.stolen_s for p in parts),
    )
    return Window(sum(p.completed for p in parts), cpu, stats)


def windows(parts: list[Window]) -> str:
    """The rates of the windows, as printed: "1,940–2,210 req/s in 3 windows"."""
    rates = [p.rate for p in parts]
    return f"{min(rates):,.0f}–{max(rates):,.0f} in {len(rates)} windows"


async def closed_loop(
    server: Server, targets: list[tuple[str, dict]], sizes: Sizes, seed: int
) -> Window:
    """(a): ``sizes.connections`` clients each PUT answers back to back, rotating over
    ``targets``; counts the 200s completed inside the measured window (after warm-up)."""
    stats = Stats()
    counter = itertools.count()
    begin = time.perf_counter()
    warm_end = begin + sizes.warmup_s
    end = warm_end + sizes.throughput_s
    completed = 0
    marks: dict[str, tuple[float, ...]] = {}

    async def sampler():
        await asyncio.sleep(max(0.0, warm_end - time.perf_counter()))
        marks["start"] = snapshot(server)
        await asyncio.sleep(max(0.0, end - time.perf_counter()))
        marks["end"] = snapshot(server)

    async with Clients(server.url, sizes.connections) as clients:

        async def worker(wid: int):
            nonlocal completed
            rng, client = random.Random(seed * 1000 + wid), clients[wid]
            for _ in range(10**7):  # bounded; the deadline ends it first
                if time.perf_counter() >= end:
                    return
                path, question = targets[next(counter) % len(targets)]
                r = await call(
                    client, stats, "save", "PUT", path, {"choice": choice_for(question, rng)}
                )
                if r is not None and warm_end <= time.perf_counter() <= end:
                    completed += 1

        tasks = [asyncio.create_task(worker(w)) for w in range(sizes.connections)]
        await sampler()
        await asyncio.wait(tasks, timeout=90)
    return Window(completed, usage(marks["start"], marks["end"]), stats)


async def open_loop(
    server: Server, targets: list[tuple[str, dict]], rate: float, sizes: Sizes, seed: int
) -> Window:
    """(c): requests at a fixed rate (scheduled, not waiting for answers); latency from
    each request's scheduled time."""
    stats = Stats()
    rng = random.Random(seed)
    total = max(1, int(rate * sizes.sustained_s))
    completed = 0
    async with Clients(server.url, sizes.sustained_connections) as clients:

        async def one(k: int, when: float):
            nonlocal completed
            path, question = targets[k % len(targets)]
            body = {"choice": choice_for(question, rng)}
            if await call(clients[k], stats, "save", "PUT", path, body, started=when) is not None:
                completed += 1

        mark = snapshot(server)
        t0 = time.perf_counter() + 0.05
        tasks = set()
        for k in range(total):
            when = t0 + k / rate
            delay = when - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(k, when))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=60)
    return Window(completed, usage(mark, snapshot(server)), stats)


@dataclass
class Phone:
    token: str | None = None
    acked: dict[int, str] = field(default_factory=dict)
    submitted: bool = False
    finished: bool = False


@dataclass
class Burst:
    phones: list[Phone]
    stats: Stats
    seconds: float
    joins_done_s: float  # from the first join sent to the last join answered
    started: float  # time.perf_counter() when the first phone was due
    unfinished: int
    cpu: Usage
    loop_lag: list[float]  # how late the load generator's 0.1 s timer fired, seconds


def save_phases(b: Burst) -> str:
    """The burst's answer-save latencies by when they were sent: while phones were still
    joining, between, and once the submits had begun."""
    saves = list(zip(b.stats.sent.get("save", []), b.stats.latency.get("save", []), strict=True))
    joins_end = b.started + b.joins_done_s
    submits = b.stats.sent.get("submit", [])
    submits_start = min(submits, default=math.inf)
    phases = (
        ("sent while phones were joining", lambda t: t <= joins_end),
        ("between", lambda t: joins_end < t < submits_start),
        ("sent once the submits had begun", lambda t: t >= submits_start),
    )
    parts = []
    for label, within in phases:
        values = [lat for sent, lat in saves if within(sent)]
        parts.append(f"{label}: {lat3(values)} ({len(values):,})")
    return "(b) answer save p50/p95/p99 by phase: " + "; ".join(parts) + "."


def slow_seconds(stats: Stats, kind: str, limit_s: float = GOAL_SUSTAINED_P99_S) -> str:
    """Where (c)'s slow requests were: each second of sending with its p99 over the goal,
    so a stall that comes back periodically shows apart from a uniformly slow run."""
    by_second: dict[int, list[float]] = {}
    sent = stats.sent.get(kind, [])
    t0 = min(sent, default=0.0)
    for when, latency in zip(sent, stats.latency.get(kind, []), strict=True):
        by_second.setdefault(int(when - t0), []).append(latency)
    slow = [
        (second, pct(values, 99), max(values))
        for second, values in sorted(by_second.items())
        if pct(values, 99) > limit_s
    ]
    listed = ", ".join(f"{s} s ({ms(p)}, max {ms(m)})" for s, p, m in slow) or "none"
    return (
        f"(c) seconds of sending whose p99 was over {limit_s * 1000:.0f} ms: "
        f"{len(slow)} of {len(by_second)}: {listed}."
    )


async def burst(
    server: Server,
    inst: Instance,
    sizes: Sizes,
    n: int,
    seed: int,
    flow: str = "api",
    prefix: str = "13",
    answer: bool = True,
) -> Burst:
    """(b): ``n`` phones join within the window, answer with think time, submit. ``flow``
    "api": they join through the JSON API (event GET, join POST); "pages": through the
    pages a phone opens from the QR code (join page, form, quiz page). ``prefix`` begins
    the phones' numbers; with ``answer`` false they answer their first question and stop
    (--joins-only: the first answers are those sent while other phones still join)."""
    stats = Stats()
    rng = random.Random(seed)
    offsets = sorted(rng.uniform(0, sizes.burst_window_s) for _ in range(n))
    phones = [Phone() for _ in range(n)]
    join_path = f"/api/v1/events/{inst.join_token}/attempts"
    last_join = 0.0
    async with Clients(server.url, min(n, sizes.burst_connections)) as clients:
        t0 = time.perf_counter() + 0.2

        async def phone(i: int):
            nonlocal last_join
            me, prng, client = phones[i], random.Random(seed * 1_000_003 + i), clients[i]
            await asyncio.sleep(max(0.0, t0 + offsets[i] - time.perf_counter()))
            if flow == "pages":
                joined = await join_by_pages(client, stats, inst.join_token, i)
                last_join = max(last_join, time.perf_counter())
                if joined is None:
                    return
                me.token, questions = joined
            else:
                path = f"/api/v1/events/{inst.join_token}"
                r = await call(client, stats, "event", "GET", path)
                if r is None:
                    return
                units = r.json()["competition"]["units"]
                r = await call(
                    client, stats, "join", "POST", join_path, join_body(prefix, i, units)
                )
                last_join = max(last_join, time.perf_counter())
                if r is None:
                    return
                attempt = r.json()["attempt"]
                me.token, questions = attempt["token"], attempt["questions"]
            # --joins-only: the first answer only (the next comes after the join window)
            for question in questions if answer else questions[:1]:
                await asyncio.sleep(prng.uniform(*sizes.think_s))
                path = f"/api/v1/attempts/{me.token}/answers/{question['position']}"
                body = {"choice": choice_for(question, prng)}
                r = await call(client, stats, "save", "PUT", path, body)
                if r is not None:
                    me.acked[question["position"]] = r.json()["choice"]
            if not answer:
                me.finished = True
                return
            await asyncio.sleep(prng.uniform(*sizes.think_s))
            r = await call(client, stats, "submit", "POST", f"/api/v1/attempts/{me.token}/submit")
            me.submitted = r is not None
            me.finished = True

        stop_screen = asyncio.Event()

        async def screen():
            for _ in range(int(sizes.burst_timeout_s / 3) + 1):  # bounded: one poll per 3 s
                path = f"/api/v1/screens/{inst.screen_token}"
                await call(clients[0], stats, "screen", "GET", path)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop_screen.wait(), 3.0)
                if stop_screen.is_set():
                    return

        lags: list[float] = []

        async def lag_monitor():
            for _ in range(int(sizes.burst_timeout_s * 10) + 100):  # bounded
                before = time.perf_counter()
                await asyncio.sleep(0.1)
                lags.append(time.perf_counter() - before - 0.1)
                if stop_screen.is_set():
                    return

        mark = snapshot(server)
        screen_task = asyncio.create_task(screen())
        lag_task = asyncio.create_task(lag_monitor())
        tasks = [asyncio.create_task(phone(i)) for i in range(n)]
        done, pending = await asyncio.wait(tasks, timeout=sizes.burst_timeout_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in done:
            if task.exception() is not None:
                raise task.exception()
        seconds = time.perf_counter() - t0
        stop_screen.set()
        await asyncio.wait([screen_task, lag_task], timeout=70)
        cpu = usage(mark, snapshot(server))
    return Burst(phones, stats, seconds, last_join - t0, t0, len(pending), cpu, lags)


# ---------------------------------------------------------------- (e) page transfer


class _Refs(HTMLParser):
    """URLs a page references: (tag, attribute, value, fetched-by-the-browser)."""

    LOADED = {("script", "src"), ("img", "src"), ("source", "src"), ("video", "poster")}
    LOADED_LINKS = {"stylesheet", "modulepreload", "preload", "icon", "manifest", "prefetch"}

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str, bool]] = []

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        for attr in ("src", "href", "action", "poster", "data", "formaction", "srcset"):
            value = values.get(attr)
            if not value:
                continue
            loaded = (tag, attr) in self.LOADED or (
                tag == "link"
                and attr == "href"
                and bool(self.LOADED_LINKS & set((values.get("rel") or "").lower().split()))
            )
            for url in value.split(",") if attr == "srcset" else [value]:
                self.refs.append((tag, attr, url.strip().split(" ")[0], loaded))


_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)['"]?\s*\)|@import\s+['"]([^'"]+)['"]""")
_JS_IMPORT = re.compile(
    r"""(?:\bimport\s*(?:[\w*{}\s,]+from\s*)?|\bimport\s*\(\s*|\bnew\s+URL\s*\(\s*)['"]([^'"]+)['"]"""
)
_ABSOLUTE = re.compile(r"""['"(]((?:https?:)?//[^'")\s]+)""")
_NAMESPACES = ("http://www.w3.org/",)  # XML namespace names, never fetched


def page_transfer(url: str, inst: Instance) -> dict:
    """Bytes of /a/<token> and every same-origin asset it loads; references elsewhere."""
    origin = urlsplit(url).netloc
    with httpx.Client(base_url=url, trust_env=False, timeout=30) as client:
        units = client.get(f"/api/v1/events/{inst.join_token}").json()["competition"]["units"]
        joined = client.post(
            f"/api/v1/events/{inst.join_token}/attempts", json=join_body("17", 1, units)
        )
        joined.raise_for_status()
        page_url = f"{url}/a/{joined.json()['attempt']['token']}"
        files: dict[str, int] = {}
        foreign: list[str] = []
        queue: list[tuple[str, str]] = [(page_url, "html")]
        for _ in range(200):  # bounded crawl
            if not queue:
                break
            target, kind = queue.pop(0)
            if target in files:
                continue
            response = client.get(target)
            if response.status_code != 200:
                raise RuntimeError(f"{target}: {response.status_code}")
            files[target] = response.num_bytes_downloaded
            text = response.text
            found: list[tuple[str, bool]] = []
            if kind == "html":
                parser = _Refs()
                parser.feed(text)
                found = [(ref, loaded) for _t, _a, ref, loaded in parser.refs]
            elif kind == "css":
                found = [(a or b, True) for a, b in _CSS_URL.findall(text)]
            elif kind == "js":
                found = [(ref, True) for ref in _JS_IMPORT.findall(text)]
            if kind in ("css", "js"):
                found += [(ref, False) for ref in _ABSOLUTE.findall(text)]
            for ref, loaded in found:
                if ref.startswith(("data:", "mailto:", "tel:", "javascript:", "#", "blob:")):
                    continue
                if ref.startswith(_NAMESPACES):
                    continue
                absolute = urljoin(target, ref)
                parts = urlsplit(absolute)
                if parts.netloc and parts.netloc != origin:
                    foreign.append(f"{ref} (in {urlsplit(target).path})")
                    continue
                if loaded:
                    path = parts.path.lower()
                    sub = "css" if path.endswith(".css") else "js" if path.endswith(".js") else ""
                    queue.append((absolute.split("#")[0], sub))
    return {"bytes": sum(files.values()), "files": files, "foreign": foreign}


# ---------------------------------------------------------------- one backend


@dataclass
class Result:
    backend: str
    rows: list[tuple[str, str, str, str]]
    failures: list[str]
    notes: list[str]


def drop_workdir(workdir: Path, keep: bool, failures: list[str], notes: list[str]) -> None:
    """Remove a run's temporary folder (the gunicorn logs, the SQLite file), unless asked
    to keep it or the run failed: then its logs stay for reading."""
    if keep or failures:
        notes.append(f"gunicorn logs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


# The phones' number prefixes of --joins-only's rounds: each round joins new phones
# (a returning phone takes another path). "15" is the rotation's, "14" the pages flow's;
# a mainland mobile number is 1[3-9] and nine digits.
JOIN_ROUND_PREFIXES = tuple(f"1{second}{third}" for second in "36789" for third in range(10))


def run_joins_only(
    backend: str,
    sizes: Sizes,
    n: int,
    overrides: dict[str, str],
    compare: dict[str, str],
    rounds: int,
    keep: bool = False,
) -> Result:
    """--joins-only: starts in which the phones join (event GET, join POST), answer
    their first question after the think time and stop, ``rounds`` of them per server,
    on one database; with --compare the app and the other setting take turns (app,
    alt, alt, app, ...), so that their starts fall in the same minutes of the machine.
    Only for comparing changes to the join window: the record's (b) is the full start."""
    workdir = Path(tempfile.mkdtemp(prefix=f"quiz-load-{backend}-"))
    log(f"{backend}: preparing an instance in {workdir}")
    inst = prepare(backend, workdir, overrides)
    app = Server("app", "wsgi:app", inst.env, workdir)
    servers = [app]
    if compare:
        servers.append(Server("app-alt", "wsgi:app", {**inst.env, **compare}, workdir))
    runs: dict[str, list[Burst]] = {server.name: [] for server in servers}
    if rounds * len(servers) > len(JOIN_ROUND_PREFIXES):
        raise SystemExit(f"--joins-only: at most {len(JOIN_ROUND_PREFIXES) // len(servers)}")
    prefixes = iter(JOIN_ROUND_PREFIXES)
    try:
        for server in servers:
            server.start()
        for k in range(rounds):
            for server in servers if k % 2 == 0 else reversed(servers):
                prefix = next(prefixes)
                log(
                    f"{backend}: {server.name}: {n} phones join within "
                    f"{sizes.burst_window_s:.0f} s (numbers {prefix}…)"
                )
                runs[server.name].append(
                    run_client(burst(server, inst, sizes, n, 7 + k, "api", prefix, False))
                )
                time.sleep(3)  # let the last requests' work and checkpoints settle
    finally:
        for server in servers:
            server.stop()
        drop(inst)
    rows, notes, failures = [], [], []
    setting = ", ".join(f"{k}={v}" for k, v in compare.items())
    for server in servers:
        label = "app" if server.name == "app" else f"app with {setting}"
        bursts = runs[server.name]
        for b in bursts:
            joins = b.stats.latency.get("join", [])
            events = b.stats.latency.get("event", [])
            rows.append(
                (
                    f"{label}: {n:,} phones join within {sizes.burst_window_s:.0f} s",
                    f"last join {b.joins_done_s:.1f} s; join p50/p95/p99 {lat3(joins)}; "
                    f"event GET p99 {ms(pct(events, 99))}; errors {b.stats.error_count()}; "
                    f"server CPU {b.cpu.server_s / max(1, len(joins)) * 1000:.2f} ms per "
                    f"phone; stolen {b.cpu.stolen_s / max(b.cpu.seconds, 1e-9):.2f} cores",
                    "",
                    "",
                )
            )
            if b.stats.server_errors:
                failures.append(f"{backend}: {label}: {b.stats.server_errors} responses 5xx")
            if not any(p.acked for p in b.phones):
                failures.append(f"{backend}: {label}: no phone joined and answered")
        p99s = [pct(b.stats.latency.get("join", []), 99) for b in bursts]
        notes.append(
            f"{label}: join p99 by round {', '.join(ms(p) for p in p99s)}; "
            f"median {ms(statistics.median(p99s))}."
        )
        findings = server.log_findings()
        notes.append(
            f"gunicorn log ({label}): " + "; ".join(f"{k}: {v}" for k, v in findings.items())
        )
        if findings["database is locked"] or findings["tracebacks"]:
            failures.append(f"{backend}: {label}: errors in the gunicorn log: {findings}")
    drop_workdir(workdir, keep, failures, notes)
    return Result(backend, rows, failures, notes)


def verdict(ok: bool) -> str:
    return "ok" if ok else "**missed**"


def run_backend(
    backend: str,
    sizes: Sizes,
    n: int,
    overrides: dict[str, str],
    keep: bool,
    flow: str = "api",
    compare: dict[str, str] | None = None,
    stop_after: str = "",
):
    workdir = Path(tempfile.mkdtemp(prefix=f"quiz-load-{backend}-"))
    seed = 20260924
    log(f"{backend}: preparing an instance in {workdir}")
    inst = prepare(backend, workdir, overrides)
    servers: list[Server] = []
    failures: list[str] = []
    try:
        rows: list[tuple[str, str, str, str]] = []
        notes: list[str] = []

        # (a) the answer save against the bare app (same gunicorn settings), in windows
        # that alternate (bare, save, save, bare, bare, save ...): the ratio of each
        # pair is taken over the same minute of the machine, whose speed drifts
        # (another tenant, its clock) by a quarter from one minute to the next.
        # The bare app runs with the app's gunicorn settings (gunicorn.conf.py gives
        # SQLite and PostgreSQL different numbers of workers and connections).
        app_settings = gunicorn_settings(inst.env)
        threads = app_settings["threads"]
        bare_env = server_env(
            {
                **overrides,
                "WEB_CONCURRENCY": str(app_settings["workers"]),
                "GUNICORN_THREADS": str(threads),
                "WORKER_CONNECTIONS": str(app_settings["worker_connections"]),
            }
        )
        bare = Server("bare", "bench.bare_app:app", bare_env, workdir)
        servers.append(bare)
        bare.start()
        app = Server("app", "wsgi:app", inst.env, workdir)
        servers.append(app)
        app.start()
        # --compare: the same app with other settings, on the same database, in the
        # same rotation of windows
        alt = Server("app-alt", "wsgi:app", {**inst.env, **compare}, workdir) if compare else None
        if alt:
            servers.append(alt)
            alt.start()
        rss_start = [rss_mb(pid) for pid in app.worker_pids()]
        log(f"{backend}: joining {sizes.rotation_attempts} attempts for the rotation")
        attempts = run_client(join_many(app.url, inst, "15", sizes.rotation_attempts))
        # consecutive requests go to different attempts
        targets = [
            (f"/api/v1/attempts/{a['token']}/answers/{q['position']}", q)
            for position in range(max(len(a["questions"]) for a in attempts))
            for a in attempts
            for q in a["questions"][position : position + 1]
        ]
        # The bare app needs no attempts; the same URL shapes are used.
        fake_q = {"type": "single", "options": [{"key": k} for k in "ABCD"]}
        bare_targets = [
            (f"/api/v1/attempts/{secrets.token_urlsafe(16)}/answers/{p}", fake_q)
            for p in range(1, 21)
            for _ in range(sizes.rotation_attempts // 20 + 1)
        ]
        log(
            f"{backend}: bare Flask and answer-save throughput, {sizes.pairs} pairs of "
            f"windows ({sizes.connections} connections)"
        )
        bases: list[Window] = []
        saves: list[Window] = []
        alts: list[Window] = []
        kinds = ["bare", "save", "alt"] if alt else ["bare", "save"]
        for k in range(sizes.pairs):
            order = kinds[k % len(kinds) :] + kinds[: k % len(kinds)]
            for kind in order if k % 2 == 0 else reversed(order):
                if kind == "bare":
                    bases.append(run_client(closed_loop(bare, bare_targets, sizes, seed + k)))
                elif kind == "save":
                    saves.append(run_client(closed_loop(app, targets, sizes, seed + 100 + k)))
                else:
                    alts.append(run_client(closed_loop(alt, targets, sizes, seed + 200 + k)))
        bare.stop()
        if alt:
            alt.stop()
        pair_ratios = [
            s.rate / b.rate if b.rate else math.nan for b, s in zip(bases, saves, strict=True)
        ]
        ratio = statistics.median(pair_ratios)
        base, save = combined(bases), combined(saves)
        rows.append(
            (
                f"(a) bare Flask PUT, {sizes.connections} connections (baseline)",
                f"{base.rate:,.0f} req/s ({windows(bases)}); server CPU "
                f"{base.server_ms_per_request:.2f} ms/req; "
                f"p99 {ms(pct(base.stats.latency.get('save', []), 99))}",
                "",
                "",
            )
        )
        rows.append(
            (
                f"(a) answer save, {sizes.rotation_attempts} attempts in rotation",
                f"{save.rate:,.0f} req/s ({windows(saves)}) = **{ratio:.2f}×** bare "
                f"(median of {len(pair_ratios)} pairs of windows: "
                f"{', '.join(f'{r:.2f}' for r in pair_ratios)}); server CPU "
                f"{save.server_ms_per_request:.2f} ms/req (CPU ratio "
                f"{base.server_ms_per_request / save.server_ms_per_request:.2f}×); "
                f"p99 {ms(pct(save.stats.latency.get('save', []), 99))}; "
                f"errors {save.stats.error_count()}",
                f"≥ {GOAL_RATIO}×",
                verdict(ratio >= GOAL_RATIO),
            )
        )
        if alt:
            alt_ratios = [
                a.rate / b.rate if b.rate else math.nan for b, a in zip(bases, alts, strict=True)
            ]
            alt_save = combined(alts)
            setting = ", ".join(f"{k}={v}" for k, v in compare.items())
            rows.append(
                (
                    f"(a) answer save with {setting} (same rotation)",
                    f"{alt_save.rate:,.0f} req/s ({windows(alts)}) = "
                    f"**{statistics.median(alt_ratios):.2f}×** bare (pairs: "
                    f"{', '.join(f'{r:.2f}' for r in alt_ratios)}); server CPU "
                    f"{alt_save.server_ms_per_request:.2f} ms/req; "
                    f"p99 {ms(pct(alt_save.stats.latency.get('save', []), 99))}; "
                    f"errors {alt_save.stats.error_count()}",
                    "",
                    "",
                )
            )
            notes.append(f"CPU during (a), answer save with {setting}: {alt_save.cpu.describe()}.")
        notes.append(
            f"gunicorn (both servers): {app_settings['workers']} workers, {threads} threads "
            f"per worker, {app_settings['worker_connections']} connections per worker."
        )
        if backend == "postgres":
            socket = pg_socket()
            notes.append(
                "The app reaches PostgreSQL "
                + (
                    f"through its Unix socket ({socket})."
                    if socket
                    else f"over TCP ({urlsplit(PG_ADMIN_URL).netloc})."
                )
            )
        notes.append(f"CPU during (a), bare: {base.cpu.describe()}.")
        notes.append(f"CPU during (a), answer save: {save.cpu.describe()}.")

        if stop_after == "a":
            errors_5xx = sum(w.stats.server_errors for w in (*bases, *saves, *alts))
            if errors_5xx:
                failures.append(f"{backend}: {errors_5xx} responses with status 5xx in (a)")
            drop_workdir(workdir, keep, failures, notes)
            return Result(backend, rows, failures, notes)

        # (c) sustained at 80 % of (a)
        target_rate = 0.8 * save.rate
        log(f"{backend}: sustained answering at {target_rate:,.0f} req/s")
        sustained = run_client(open_loop(app, targets, target_rate, sizes, seed + 2))
        s_lat = sustained.stats.latency.get("save", [])
        rows.append(
            (
                f"(c) sustained answer saves at 80 % of (a) for {sizes.sustained_s:.0f} s",
                f"target {target_rate:,.0f} req/s, achieved {sustained.rate:,.0f}; "
                f"p50/p95/p99 {lat3(s_lat)}; errors {sustained.stats.error_count()}",
                f"p99 < {GOAL_SUSTAINED_P99_S * 1000:.0f} ms",
                verdict(pct(s_lat, 99) < GOAL_SUSTAINED_P99_S and not sustained.stats.errors),
            )
        )
        notes.append(f"CPU during (c): {sustained.cpu.describe()}.")
        notes.append(slow_seconds(sustained.stats, "save"))
        if stop_after == "c":
            if sustained.stats.server_errors:
                failures.append(f"{backend}: {sustained.stats.server_errors} responses 5xx in (c)")
            drop_workdir(workdir, keep, failures, notes)
            return Result(backend, rows, failures, notes)

        # (b) the start burst
        log(
            f"{backend}: burst of {n} phones joining within {sizes.burst_window_s:.0f} s, "
            f"think {sizes.think_s[0]}–{sizes.think_s[1]} s"
        )
        b = run_client(burst(app, inst, sizes, n, seed + 3, flow))
        log(f"{backend}: burst done in {b.seconds:.0f} s; checking the database")
        stored = stored_attempts(inst)
        acked = sum(len(p.acked) for p in b.phones)
        lost = lost_submits = 0
        for p in b.phones:
            status, choices = stored.get(p.token, ("missing", {})) if p.token else ("", {})
            lost += sum(1 for pos, choice in p.acked.items() if choices.get(pos) != choice)
            lost_submits += p.submitted and status != "submitted"
        joined = sum(1 for p in b.phones if p.token)
        bs = b.stats
        errors = bs.error_count()
        all_lat = [
            x
            for k in ("event", "join", "quiz page", "save", "submit")
            for x in bs.latency.get(k, [])
        ]
        rows.append(
            (
                f"(b) burst: {n:,} phones join within {sizes.burst_window_s:.0f} s"
                f"{' through the pages' if flow == 'pages' else ''}, "
                f"{sizes.think_s[0]:g}–{sizes.think_s[1]:g} s think, submit",
                f"{joined:,} joined (the last join answered {b.joins_done_s:.1f} s after the "
                f"first was sent); {sum(p.submitted for p in b.phones):,} submitted; whole "
                f"burst {b.seconds:.0f} s; unfinished phones {b.unfinished}",
                "",
                "",
            )
        )
        detail = ", ".join(f"{k} × {v}" for k, v in bs.errors.most_common(6))
        rows.append(
            (
                "(b) burst errors (non-2xx or exception)",
                f"{errors}"
                + (f" ({detail})" if errors else "")
                + (f"; {b.unfinished} phones cut off by the time limit" if b.unfinished else ""),
                "0",
                verdict(errors == 0 and b.unfinished == 0),
            )
        )
        rows.append(
            (
                "(b) lost answers (acknowledged, not in the database)",
                f"{lost} of {acked:,} acknowledged; lost submits {lost_submits}",
                "0",
                verdict(lost == 0 and lost_submits == 0),
            )
        )
        pages = flow == "pages"
        for kind, label in (
            ("join", f"(b) join {'form ' if pages else ''}POST p50/p95/p99"),
            ("save", "(b) answer save p50/p95/p99"),
            ("submit", "(b) submit p50/p95/p99"),
            ("event", f"(b) {'join page' if pages else 'event'} GET before joining p50/p95/p99"),
            *([("quiz page", "(b) quiz page GET after joining p50/p95/p99")] if pages else []),
            ("screen", "(b) screen poll (every 3 s) p50/p95/p99"),
        ):
            values = bs.latency.get(kind, [])
            goal = kind in ("join", "save")
            rows.append(
                (
                    label,
                    f"{lat3(values)} ({len(values):,} requests)",
                    f"p99 < {GOAL_BURST_P99_S * 1000:.0f} ms" if goal else "",
                    verdict(pct(values, 99) < GOAL_BURST_P99_S) if goal else "",
                )
            )
        notes.append(save_phases(b))
        notes.append(
            f"CPU during (b): {b.cpu.describe()}; {len(all_lat):,} phone requests "
            f"({len(all_lat) / b.seconds:,.0f}/s), server CPU "
            f"{1000 * b.cpu.server_s / max(1, len(all_lat)):.2f} ms per request."
        )

        notes.append(
            "Load generator event-loop lag during (b) (a 0.1 s timer firing late) p50/p99/max: "
            f"{ms(pct(b.loop_lag, 50))} / {ms(pct(b.loop_lag, 99))} / "
            f"{ms(max(b.loop_lag, default=math.nan))}; a lag above 2 s lets a phone reuse a "
            "connection gunicorn has closed after its keep-alive (the client then sees "
            "the connection reset; browsers resend such a request)."
        )
        if bs.error_times:
            restarts = app.restart_times()
            near = sum(1 for t in bs.error_times if any(r - 1 <= t <= r + 25 for r in restarts))
            notes.append(
                f"{near} of the {len(bs.error_times)} burst errors came within 1 s before to "
                f"25 s after one of the {len(restarts)} worker restarts (max_requests)."
            )
        if b.unfinished:
            drained = app.wait_idle()
            notes.append(
                f"After the cut-off the server worked {drained:.0f} s more on queued requests."
            )

        # (d) memory after the burst
        rss = {pid: rss_mb(pid) for pid in app.worker_pids()}
        worst = max(rss.values()) if rss else math.nan
        rows.append(
            (
                "(d) worker RSS after the burst (VmRSS)",
                ", ".join(f"{v:.0f}" for v in rss.values())
                + " MB (after start: "
                + ", ".join(f"{v:.0f}" for v in rss_start)
                + " MB)",
                f"≤ {GOAL_RSS_MB} MB each",
                verdict(worst <= GOAL_RSS_MB),
            )
        )

        # (e) the quiz page
        try:
            page = page_transfer(app.url, inst)
        except (httpx.HTTPError, RuntimeError, KeyError, ValueError) as exc:
            page = {"bytes": 0, "files": {}, "foreign": [], "error": f"{type(exc).__name__}: {exc}"}
        kb = page["bytes"] / 1000
        names = [
            "page" if urlsplit(u).path.startswith("/a/") else urlsplit(u).path.rsplit("/", 1)[-1]
            for u in page["files"]
        ]
        listing = ", ".join(
            f"{name} {size:,}" for name, size in zip(names, page["files"].values(), strict=True)
        )
        rows.append(
            (
                "(e) quiz page /a/<token> + same-origin assets (bytes received)",
                page.get("error")
                or f"{kb:.1f} KB in {len(page['files'])} files ({listing}); "
                f"other hosts: {', '.join(page['foreign']) or 'none'}",
                f"≤ {GOAL_PAGE_KB} KB, no other host",
                verdict(kb <= GOAL_PAGE_KB and not page["foreign"] and "error" not in page),
            )
        )
    finally:
        for server in servers:
            server.stop()
        drop(inst)

    findings = app.log_findings()
    bare_findings = bare.log_findings()
    rows.append(
        (
            "gunicorn log (app)",
            "; ".join(f"{k}: {v}" for k, v in findings.items()),
            '0 "database is locked"',
            verdict(findings["database is locked"] == 0),
        )
    )
    if bare_findings["tracebacks"]:
        notes.append(f"bare app log: {bare_findings}")
    server_errors = base.stats.server_errors + save.stats.server_errors
    server_errors += sustained.stats.server_errors + bs.server_errors
    if lost or lost_submits:
        failures.append(f"{backend}: {lost} lost answers, {lost_submits} lost submits")
    if server_errors:
        failures.append(f"{backend}: {server_errors} responses with status 5xx")
    if findings["database is locked"]:
        failures.append(f"{backend}: 'database is locked' in the gunicorn log")
    if acked == 0:
        failures.append(f"{backend}: no answer was acknowledged in the burst")
    drop_workdir(workdir, keep or bool(findings["tracebacks"]), failures, notes)
    return Result(backend, rows, failures, notes)


# ---------------------------------------------------------------- report


def machine() -> str:
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown CPU",
    )
    pg = "not used"
    with contextlib.suppress(Exception):
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=5) as conn:
            pg = conn.execute("SHOW server_version").fetchone()[0]
    import gunicorn

    return (
        f"{platform.machine()} ({cpu}), {os.cpu_count()} cores, "
        f"{mem_kb / 1024 / 1024:.0f} GiB memory, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, PostgreSQL {pg}, "
        f"gunicorn {gunicorn.__version__}, aiohttp {aiohttp.__version__}"
    )


def render(result: Result) -> str:
    title = {
        "sqlite": "SQLite (embedded default: WAL, BEGIN IMMEDIATE, busy timeout)",
        "postgres": f"PostgreSQL + Redis (REDIS_URL {REDIS_URL})",
    }[result.backend]
    lines = [f"### {title}", "", "| measurement | result | goal | |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in result.rows]
    lines += [""] + [f"- {note}" for note in result.notes]
    return "\n".join(lines)


CLIENT_LOOP = "uvloop"  # --client-loop


def run_client(coroutine):
    """Run the load generator's coroutine on uvloop (libuv's event loop: the client
    then takes less of the CPU it shares with the server) or on asyncio's own loop."""
    if CLIENT_LOOP == "uvloop":
        import uvloop

        return uvloop.run(coroutine)
    return asyncio.run(coroutine)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="CI smoke run (N=50, seconds)")
    parser.add_argument("--write", action="store_true", help="append results to RESULTS.md")
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--n", type=int, help="phones in the burst (default 5000; quick 50)")
    parser.add_argument("--workers", type=int, help="WEB_CONCURRENCY for both servers")
    parser.add_argument("--threads", type=int, help="GUNICORN_THREADS for both servers")
    parser.add_argument("--burst-timeout", type=float, help="seconds before phones are cut off")
    parser.add_argument("--think", help="think time range in seconds, e.g. 1,3")
    parser.add_argument("--window", type=float, help="seconds within which every phone joins")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    parser.add_argument(
        "--flow",
        choices=("api", "pages"),
        default="api",
        help="how phones join in (b): the JSON API, or the pages a QR code opens",
    )
    parser.add_argument(
        "--pg-tcp",
        action="store_true",
        help="the app reaches PostgreSQL over TCP loopback, not its Unix socket",
    )
    parser.add_argument(
        "--client-loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="the load generator's event loop (uvloop takes less CPU from the server)",
    )
    parser.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="in (a), also the app with this setting (in its environment), in the same "
        "rotation of windows; may be repeated (all go to one second server)",
    )
    parser.add_argument("--only-a", action="store_true", help="measure (a) and stop")
    parser.add_argument(
        "--stop-after",
        choices=("a", "c"),
        default="",
        help="measure up to (a), or up to (c) (no start burst), and stop",
    )
    parser.add_argument("--pairs", type=int, help="(a): windows of each kind (default 3)")
    parser.add_argument(
        "--joins-only",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="only starts whose phones join, answer once and stop, ROUNDS per server (with "
        "--compare, the two servers take turns): for comparing changes to the join window",
    )
    args = parser.parse_args()
    global PG_OVER_TCP, CLIENT_LOOP
    PG_OVER_TCP, CLIENT_LOOP = args.pg_tcp, args.client_loop
    sizes = QUICK if args.quick else FULL
    if args.burst_timeout:
        sizes = Sizes(**{**sizes.__dict__, "burst_timeout_s": args.burst_timeout})
    if args.think:
        low, high = (float(x) for x in args.think.split(","))
        sizes = Sizes(**{**sizes.__dict__, "think_s": (low, high)})
    if args.window:
        sizes = Sizes(**{**sizes.__dict__, "burst_window_s": args.window})
    if args.pairs:
        sizes = Sizes(**{**sizes.__dict__, "pairs": args.pairs})
    n = args.n or sizes.burst_n
    overrides: dict[str, str] = {}
    if args.workers:
        overrides["WEB_CONCURRENCY"] = str(args.workers)
    if args.threads:
        overrides["GUNICORN_THREADS"] = str(args.threads)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]

    global SRC
    load_before = os.getloadavg()
    started = time.perf_counter()
    code = Path(tempfile.mkdtemp(prefix="quiz-load-src-"))
    try:
        SRC = copy_code(code)
        compare = dict(item.split("=", 1) for item in args.compare)
        stop_after = "a" if args.only_a else args.stop_after
        if args.joins_only and args.flow != "api":
            parser.error("--joins-only joins through the JSON API (--flow api)")
        results = [
            run_joins_only(b, sizes, n, overrides, compare, args.joins_only, args.keep)
            if args.joins_only
            else run_backend(b, sizes, n, overrides, args.keep, args.flow, compare, stop_after)
            for b in backends
        ]
        settings = gunicorn_settings(server_env(overrides))
    finally:
        shutil.rmtree(code, ignore_errors=True)
    load_after = os.getloadavg()
    header = (
        f"## {time.strftime('%Y-%m-%d')} — load_bench.py{' --quick' if args.quick else ''}"
        f" --backend {args.backend}{f' --n {n}' if args.n else ''}"
        f"{f' --think {args.think}' if args.think else ''}"
        f"{f' --window {args.window:g}' if args.window else ''}"
        f"{' --flow pages' if args.flow == 'pages' else ''}"
        f"{f' --joins-only {args.joins_only}' if args.joins_only else ''}"
        f"{f' --stop-after {stop_after}' if stop_after and not args.joins_only else ''}"
        + "".join(f" --compare {item}" for item in args.compare)
        + f"{' --client-loop asyncio' if args.client_loop == 'asyncio' else ''}\n\n"
        f"Machine: {machine()}. The load generator (one asyncio process on "
        f"{'uvloop' if args.client_loop == 'uvloop' else 'asyncio’s own loop'}, aiohttp) and the "
        f"server share these {os.cpu_count()} cores; load average before "
        f"{load_before[0]:.1f}, after {load_after[0]:.1f} (other processes on the machine "
        f"count too). Run took {time.perf_counter() - started:.0f} s.\n\n"
        "gunicorn (gunicorn.conf.py, bound to 127.0.0.1, log to a file; workers, threads "
        "and connections as on SQLite, see each backend's notes): "
        + ", ".join(f"{k}={v}" for k, v in settings.items())
        + f". Client: aiohttp {aiohttp.__version__}, (a) {sizes.connections} connections, "
        f"(c) {sizes.sustained_connections}, (b) up to {sizes.burst_connections} in all "
        "(phones share them, as behind a proxy), keep-alive 15 s; a phone's wait for a "
        "connection counts in its latency.\n"
    )
    text = header + "\n" + "\n\n".join(render(r) for r in results) + "\n"
    print(text)
    if args.write:
        with (ROOT / "bench" / "RESULTS.md").open("a", encoding="utf-8") as fh:
            fh.write("\n" + text)
    failures = [f for r in results for f in r.failures]
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
