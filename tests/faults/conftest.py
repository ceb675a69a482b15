"""Fault-injection fixtures and helpers: a private PostgreSQL cluster, real gunicorn
processes, the app's CLI, and a JSON client that reports transport errors as values.

Every test in this directory runs once per CI run, in the PostgreSQL pass of the test
command (``QUIZ_TEST_DB=postgres``), or anywhere with ``QUIZ_TEST_FAULTS=1``; each gets the
``faults`` marker, so ``-m "not faults"`` leaves them out. Nothing here touches the shared
PostgreSQL on 5432: the database is a private cluster on a free loopback port, in a
temporary directory that is stopped and deleted afterwards, however the tests end.

Helpers other fault tests can reuse: ``free_port``, ``app_env``, ``run_flask``,
``JsonClient``/``Reply``, ``join_attempt``, ``AnsweringPhone`` with ``start_phones`` and
``finish_phones``, ``children_of``, and the fixtures ``private_postgres``,
``pg_database``/``sqlite_database`` (a fresh demo database, with ``query`` and
``stored_answers``) and ``gunicorn`` (start servers; all stopped afterwards).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
FAULTS_DIR = Path(__file__).resolve().parent
SECRET_KEY = secrets.token_hex(16)


def pytest_collection_modifyitems(config, items):
    run = os.environ.get("QUIZ_TEST_DB") == "postgres" or os.environ.get("QUIZ_TEST_FAULTS") == "1"
    skip = pytest.mark.skip(
        reason="fault tests run once per CI run: in the PostgreSQL pass (QUIZ_TEST_DB=postgres)"
        " or with QUIZ_TEST_FAULTS=1"
    )
    for item in items:
        if FAULTS_DIR in Path(item.path).parents:
            item.add_marker(pytest.mark.faults)
            if not run:
                item.add_marker(skip)


# --- small helpers ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_env(database_url: str, instance_path: Path | str, **overrides: str | None) -> dict:
    """The environment of an app process (CLI or gunicorn): this database, no Redis
    unless given (``REDIS_URL=...``), no access log. An override of None removes a variable."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET_KEY,
        "INSTANCE_PATH": str(instance_path),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("REDIS_URL", None)
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def run_flask(env: dict, *args: str, timeout: float = 60) -> str:
    """``flask --app quizapp ARGS`` in a subprocess; returns stdout, fails with stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "quizapp", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise AssertionError(f"flask {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def prepare_demo(env: dict) -> dict:
    """Schema, the curated bank and the demo competition; returns ``demo --json``."""
    run_flask(env, "db", "upgrade")
    run_flask(env, "bank", "load")
    return json.loads(run_flask(env, "demo", "--json"))


def children_of(pid: int) -> set[int]:
    """Live (non-zombie) child processes of ``pid``, from /proc."""
    kids = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state not in ("Z", "X"):
            kids.add(int(entry.name))
    return kids


@dataclass
class Reply:
    """One HTTP exchange: ``status`` is None when no response came (``error`` says why)."""

    status: int | None
    body: Any = None
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    text: str = ""
    elapsed: float = 0.0
    error: str | None = None
    method: str = ""
    path: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        """What a phone retries: no response, a 5xx or a 429."""
        return self.status is None or self.status >= 500 or self.status == 429

    def __repr__(self) -> str:
        what = self.error or f"{self.status} {self.text[:300]!r}"
        return f"<{self.method} {self.path}: {what} in {self.elapsed:.2f}s>"


class JsonClient:
    """A phone's HTTP client (keep-alive, bounded timeouts, no proxy from the environment)."""

    def __init__(self, base: str, timeout: float = 10.0):
        self.http = httpx.Client(base_url=base, timeout=timeout, trust_env=False)

    def call(self, method: str, path: str, body: Any = None, **kwargs) -> Reply:
        started = time.monotonic()
        try:
            kw = {"json": body} if body is not None else {}
            res = self.http.request(method, path, **kw, **kwargs)
        except httpx.TransportError as err:  # refused, reset, closed mid-response, timeout
            return Reply(
                None,
                elapsed=time.monotonic() - started,
                error=f"{type(err).__name__}: {err}",
                method=method,
                path=path,
            )
        try:
            body = res.json()
        except ValueError:
            body = None
        return Reply(
            res.status_code,
            body,
            res.headers,
            res.text,
            time.monotonic() - started,
            method=method,
            path=path,
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def join_attempt(client: JsonClient, join_token: str, name: str, phone: str) -> dict:
    """Join an event as name+phone (first unit of the list); returns the ``{attempt}``."""
    info = client.call("GET", f"/api/v1/events/{join_token}")
    assert info.status == 200, info
    units = info.body["competition"]["units"]
    body = {"name": name, "phone": phone}
    body.update({"unit_id": units[0]["id"]} if units else {"unit_name": "测试单位"})
    reply = client.call("POST", f"/api/v1/events/{join_token}/attempts", body)
    assert reply.status in (200, 201), reply
    return reply.body["attempt"]


class AnsweringPhone(threading.Thread):
    """A simulated phone: joins, then keeps changing answers while ``changing`` is set,
    with the page's queue discipline (static/js/quiz.js): an answer leaves the queue only
    when the server acknowledged it (2xx); no response, a 5xx or a 429 keeps it queued
    and it is sent again after ``retry_pause`` seconds. Once ``changing`` is cleared it
    drains the queue (for up to ``drain_s``), then submits (retried the same way) when
    ``submit`` is set.

    Afterwards: ``acked`` (position -> last acknowledged choice), ``pending`` (unsent),
    ``replies`` (every exchange), ``refused`` (4xx answers to a save), ``submitted``
    (the submit's reply) and ``error`` (an exception in the thread)."""

    def __init__(
        self,
        base: str,
        join_token: str,
        index: int,
        changing: threading.Event,
        *,
        think: tuple[float, float] = (0.02, 0.08),
        retry_pause: tuple[float, float] = (0.2, 0.4),
        drain_s: float = 20,
        submit: bool = True,
        timeout: float = 10,
    ):
        super().__init__(name=f"phone-{index}", daemon=True)
        self.base, self.join_token, self.index, self.changing = base, join_token, index, changing
        self.think, self.retry_pause, self.drain_s = think, retry_pause, drain_s
        self.submit, self.timeout = submit, timeout
        self.rng = random.Random(index)
        self.token: str | None = None
        self.joined = threading.Event()
        self.pending: dict[int, str] = {}
        self.acked: dict[int, str] = {}
        self.acked_at: dict[int, float] = {}  # position -> when its last ack came
        self.last_sent: dict[int, float] = {}  # position -> when it was last sent
        self.replies: list[Reply] = []
        self.refused: list[Reply] = []
        self.submitted: Reply | None = None
        self.error: BaseException | None = None

    def run(self):
        try:
            with JsonClient(self.base, timeout=self.timeout) as client:
                self._run(client)
        except BaseException as err:  # reported by the test
            self.error = err

    def _pause(self, span: tuple[float, float]) -> None:
        time.sleep(self.rng.uniform(*span))

    def _join(self, client: JsonClient) -> dict:
        name, phone = f"手机{self.index}", f"1390{self.index:07d}"
        for _ in range(50):
            try:
                return join_attempt(client, self.join_token, name, phone)
            except AssertionError:
                self._pause(self.retry_pause)  # joined during a fault: try again
        return join_attempt(client, self.join_token, name, phone)

    def _run(self, client: JsonClient):
        attempt = self._join(client)
        self.token = attempt["token"]
        self.joined.set()
        questions = attempt["questions"]
        while self.changing.is_set():
            q = self.rng.choice(questions)
            keys = [o["key"] for o in q["options"]]
            if q["type"] == "multiple":
                choice = "".join(sorted(self.rng.sample(keys, self.rng.randint(1, len(keys)))))
            else:
                choice = self.rng.choice(keys)
            self.pending[q["position"]] = choice
            if not self._drain(client):
                self._pause(self.retry_pause)
            self._pause(self.think)
        deadline = time.monotonic() + self.drain_s
        while self.pending and time.monotonic() < deadline:
            if not self._drain(client):
                self._pause(self.retry_pause)
        while self.submit and time.monotonic() < deadline:
            self.submitted = client.call("POST", f"/api/v1/attempts/{self.token}/submit")
            self.replies.append(self.submitted)
            if not self.submitted.retryable:
                break
            self._pause(self.retry_pause)

    def _drain(self, client: JsonClient) -> bool:
        """Send the queue; False at the first answer that must be sent again."""
        for position, choice in list(self.pending.items()):
            self.last_sent[position] = time.monotonic()
            reply = client.call(
                "PUT", f"/api/v1/attempts/{self.token}/answers/{position}", {"choice": choice}
            )
            self.replies.append(reply)
            if reply.ok:
                self.acked[position] = reply.body["choice"]
                self.acked_at[position] = time.monotonic()
            elif reply.retryable:
                return False
            else:
                self.refused.append(reply)
            if self.pending.get(position) == choice:
                del self.pending[position]
        return True


def start_phones(base: str, join_token: str, count: int, **options) -> tuple:
    """Start ``count`` AnsweringPhones and wait until all have joined; returns
    (phones, changing): clear ``changing`` to let them drain, submit and stop."""
    changing = threading.Event()
    changing.set()
    phones = [AnsweringPhone(base, join_token, i, changing, **options) for i in range(count)]
    for phone in phones:
        phone.start()
    for phone in phones:
        if not phone.joined.wait(60):
            changing.clear()
            raise AssertionError(f"{phone.name} did not join: {phone.error}")
    return phones, changing


def finish_phones(phones: list[AnsweringPhone], changing: threading.Event, timeout=60) -> None:
    """Stop changing answers, wait for every phone; fail on a stuck or crashed one."""
    changing.clear()
    deadline = time.monotonic() + timeout
    for phone in phones:
        phone.join(max(0.1, deadline - time.monotonic()))
    stuck = [p.name for p in phones if p.is_alive()]
    assert not stuck, f"phones still running: {stuck}"
    errors = [(p.name, p.error) for p in phones if p.error]
    assert not errors, errors


# --- a private PostgreSQL cluster ---------------------------------------------------------


def _pg_bin(name: str) -> str | None:
    dirs = ["/usr/local/bin", *sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for d in dirs:
        path = Path(d) / name
        if path.exists():
            return str(path)
    return shutil.which(name)


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster of our own: 127.0.0.1:``port``, sockets in ``root``, trust auth."""

    root: Path
    port: int
    pg_ctl: str
    as_postgres: list[str]

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def ctl(self, *args: str, check: bool = True, timeout: float = 60) -> None:
        done = subprocess.run(
            [*self.as_postgres, self.pg_ctl, "-D", str(self.data), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"pg_ctl {' '.join(args)}: {done.stdout}{done.stderr}")

    def start(self) -> None:
        self.ctl("-l", str(self.root / "postgres.log"), "-w", "-t", "30", "start")

    def stop(self, mode: str = "fast") -> None:
        self.ctl("-m", mode, "-w", "-t", "30", "stop")

    def ensure_running(self) -> None:
        """Start the cluster unless it runs (after a test that stopped it failed)."""
        done = subprocess.run(
            [*self.as_postgres, self.pg_ctl, "-D", str(self.data), "status"],
            capture_output=True,
            timeout=30,
        )
        if done.returncode != 0:
            self.start()

    def connect(self, dbname: str = "postgres"):
        import psycopg

        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user="postgres",
            dbname=dbname,
            autocommit=True,
            connect_timeout=5,
        )

    def query(self, dbname: str, sql: str, params: tuple = ()) -> list[tuple]:
        with self.connect(dbname) as conn:
            return conn.execute(sql, params).fetchall()

    def create_database(self, name: str, template: str | None = None) -> str:
        with self.connect() as conn:
            conn.execute(
                f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
            )
        return self.url(name)

    def log(self) -> str:
        try:
            return (self.root / "postgres.log").read_text(errors="replace")
        except OSError:
            return ""


@pytest.fixture(scope="session")
def private_postgres():
    """A throwaway PostgreSQL cluster (stopped with ``-m immediate`` and deleted after the
    session, even when a test or the setup fails). Restart it freely: it is ours alone."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the cluster as the postgres user
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root without a postgres user to own the cluster")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="quiz-faults-pg-"))
    pg = PrivatePostgres(root, free_port(), pg_ctl, as_postgres)
    try:
        if as_postgres:
            os.chown(root, owner.pw_uid, owner.pw_gid)
        done = subprocess.run(
            [*as_postgres, initdb, "-D", str(pg.data), "-U", "postgres", "-A", "trust"]
            + ["-E", "UTF8", "--no-locale", "--no-sync"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"initdb failed:\n{done.stdout}{done.stderr}"
        with open(pg.data / "postgresql.conf", "a") as conf:
            conf.write(
                f"\nlisten_addresses = '127.0.0.1'\nport = {pg.port}\n"
                f"unix_socket_directories = '{root}'\nmax_connections = 100\n"
                # Durable enough for a server crash (the WAL is written before a commit
                # returns); only an OS crash could lose data, and this cluster is a test's.
                "fsync = off\nfull_page_writes = off\n"
            )
        pg.start()
        yield pg
    finally:
        if (pg.data / "postmaster.pid").exists():
            pg.ctl("-m", "immediate", "-w", "-t", "30", "stop", check=False)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_template(private_postgres, tmp_path_factory):
    """A database with the schema, the curated bank and the demo competition, built once
    through the CLI; tests copy it (``pg_database``). Returns ``demo --json``."""
    url = private_postgres.create_database("quiz_template")
    demo = prepare_demo(app_env(url, tmp_path_factory.mktemp("pg-template")))
    return demo


@dataclass
class Database:
    """A prepared demo database: its URL, ``demo --json``, its name (PostgreSQL) or file."""

    url: str
    demo: dict
    name: str = ""
    path: Path | None = None  # SQLite file

    def query(self, sql: str, **params) -> list[tuple]:
        """Rows of one statement, on a connection of its own (closed afterwards)."""
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        engine = create_engine(self.url, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                return [tuple(row) for row in conn.execute(text(sql), params)]
        finally:
            engine.dispose()

    def stored_answers(self) -> dict[str, dict[int, str]]:
        """attempt token -> {position: choice} of every answered item."""
        stored: dict[str, dict[int, str]] = {}
        for token, position, choice in self.query(
            "SELECT a.token, i.position, i.choice FROM attempt_items i"
            " JOIN attempts a ON a.id = i.attempt_id"
        ):
            stored.setdefault(token, {})
            if choice is not None:
                stored[token][position] = choice
        return stored


@pytest.fixture
def pg_database(private_postgres, pg_template) -> Database:
    """A fresh copy of the demo database on the private cluster."""
    name = f"quiz_{secrets.token_hex(4)}"
    url = private_postgres.create_database(name, template="quiz_template")
    return Database(url, pg_template, name)


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sqlite-template")
    path = folder / "quiz.sqlite3"
    demo = prepare_demo(app_env(f"sqlite:///{path}", folder))
    return path, demo


@pytest.fixture
def sqlite_database(_sqlite_template, tmp_path) -> Database:
    """A fresh copy of the demo database as an SQLite file."""
    source, demo = _sqlite_template
    target = tmp_path / "quiz.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{source}{suffix}").exists():
            shutil.copy(f"{source}{suffix}", f"{target}{suffix}")
    return Database(f"sqlite:///{target}", demo, path=target)


# --- gunicorn ---------------------------------------------------------------------------


@dataclass
class Gunicorn:
    proc: subprocess.Popen
    base: str
    log_path: Path
    workers: int

    @property
    def pid(self) -> int:
        return self.proc.pid

    def worker_pids(self) -> set[int]:
        return children_of(self.proc.pid)

    def wait_ready(self, timeout: float = 30) -> None:
        """Until /healthz answers 200 and the master has all its workers."""
        deadline = time.monotonic() + timeout
        with JsonClient(self.base, timeout=5) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise AssertionError(f"gunicorn exited:\n{self.log()[-3000:]}")
                if (
                    client.call("GET", "/healthz").status == 200
                    and len(self.worker_pids()) == self.workers
                ):
                    return
                time.sleep(0.1)
        raise AssertionError(f"gunicorn not ready in {timeout}s:\n{self.log()[-3000:]}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """Quick shutdown (SIGINT), then SIGKILL to the whole process group."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # any worker left behind
        if self.proc.poll() is None:
            self.proc.wait(5)


@pytest.fixture
def gunicorn(tmp_path):
    """Start gunicorn masters: ``gunicorn(env, workers=2, threads=4)`` returns a started,
    ready :class:`Gunicorn` on a free loopback port; all are stopped afterwards."""
    started: list[Gunicorn] = []

    def start(env: dict, workers: int = 2, threads: int = 4) -> Gunicorn:
        port = free_port()
        log_path = tmp_path / f"gunicorn-{port}.log"
        env = {**env, "WEB_CONCURRENCY": str(workers), "GUNICORN_THREADS": str(threads)}
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py"]
                + ["--bind", f"127.0.0.1:{port}", "wsgi:app"],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: cleanup reaches workers
            )
        server = Gunicorn(proc, f"http://127.0.0.1:{port}", log_path, workers)
        started.append(server)
        server.wait_ready()
        return server

    yield start
    for server in started:
        server.stop()
