"""CPU instructions per request of the participant hot paths, against a baseline revision.

On a shared machine whose speed drifts (bench/RESULTS.md, sessions 19-20: the same
request cost 50 % more CPU time from one hour to the next), timed A/B runs cannot see a
change of a tenth. Instructions counted by Valgrind's callgrind barely drift (within 3 %
run to run), so this compares two versions of the app by them: the working tree and
``--baseline`` (a git revision, checked out in a temporary worktree), each in its own
process under callgrind, in the same run.

Each process builds a fresh SQLite instance (migrations, the starter bank, the demo
competition), warms every path up, and then runs ``--n`` requests per path through the
app's WSGI callable (no test client, no HTTP server) while callgrind counts; everything
else (set-up, warm-up, building the requests) runs uncounted. User space only: the
kernel's part of a request (WAL writes, locks, sockets) is not in the count, nor is
gunicorn's.

Run: .venv/bin/python bench/instructions.py [--baseline REV] [--paths join,save,submit]
     [--n 200]
Needs valgrind (Debian's package) and git. Prints a table of instructions per request
and the ratio working tree / baseline; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PATHS = ("join", "save", "submit")


# ----------------------------------------------------------------------- the child


def child(root: str, paths: list[str], n: int, signals: str) -> None:
    """Run in the measured process: set up, then for each path wait for the parent to
    switch counting on (``go``), run its requests, and say ``done``."""
    sys.path[:0] = [root, os.path.join(root, "bench")]
    instance = tempfile.mkdtemp(prefix="quiz-instr-")
    try:
        _run_paths(instance, paths, n, signals)
    finally:
        shutil.rmtree(instance, ignore_errors=True)


def _run_paths(instance: str, paths: list[str], n: int, signals: str) -> None:
    import orjson
    from profile_hot_paths import setup
    from werkzeug.test import EnvironBuilder

    app, demo = setup(instance)
    token = demo["events"][0]["join_token"]
    client = app.test_client()
    units = client.get(f"/api/v1/events/{token}").get_json()["competition"]["units"]
    status = {}

    def start_response(code, _headers):
        status["code"] = code

    def call(environ, expect):
        body = b"".join(app(environ, start_response))
        if not status["code"].startswith(expect):
            raise SystemExit(f"{environ['PATH_INFO']}: {status['code']} {body[:200]!r}")
        return body

    def join_environ(i):
        body = {"name": f"测试{i}", "phone": f"139{i:08d}", "unit_id": units[i % len(units)]["id"]}
        path = f"/api/v1/events/{token}/attempts"
        return EnvironBuilder(path=path, method="POST", json=body).get_environ()

    def attempts(first, count):
        return [
            orjson.loads(call(join_environ(i), "201"))["attempt"]
            for i in range(first, first + count)
        ]

    def save_environs(pool, count):
        out = []
        for k in range(count):
            a = pool[k % len(pool)]
            q = a["questions"][(k // len(pool)) % len(a["questions"])]
            path = f"/api/v1/attempts/{a['token']}/answers/{q['position']}"
            out.append(
                EnvironBuilder(
                    path=path, method="PUT", json={"choice": q["options"][0]["key"]}
                ).get_environ()
            )
        return out

    def submit_environs(pool):
        return [
            EnvironBuilder(
                path=f"/api/v1/attempts/{a['token']}/submit", method="POST"
            ).get_environ()
            for a in pool
        ]

    # Warm-up: every path runs before anything is counted (caches, statements, imports).
    warm = attempts(0, 50)
    for environ in save_environs(warm, 50):
        call(environ, "200")
    for environ in submit_environs(warm[:25]):
        call(environ, "200")
    prepared = {
        "join": ([join_environ(i) for i in range(10_000, 10_000 + n)], "201"),
        "save": (save_environs(attempts(1_000, 50), n), "200"),
        "submit": (submit_environs(attempts(2_000, n)), "200"),
    }
    for path in paths:
        environs, expect = prepared[path]
        Path(signals, f"ready-{path}").touch()
        while not Path(signals, f"go-{path}").exists():
            time.sleep(0.05)
        for environ in environs:
            call(environ, expect)
        Path(signals, f"done-{path}").touch()
        while Path(signals, f"go-{path}").exists():
            time.sleep(0.05)


# ----------------------------------------------------------------------- the parent


def _wait_for(path: Path, process: subprocess.Popen, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise SystemExit(f"the measured process stopped (exit {process.returncode})")
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {path.name}")
        time.sleep(0.1)


def _totals(out_file: Path) -> int:
    """The instructions a callgrind dump counted (its ``totals:`` line; a dump's
    ``summary:`` line can read 0)."""
    for line in reversed(out_file.read_text().splitlines()):
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise SystemExit(f"no totals in {out_file}")


def measure(root: Path, paths: list[str], n: int, work: Path) -> dict[str, float]:
    """Instructions per request for each path of the app at ``root``."""
    signals = work / "signals"
    signals.mkdir()
    out = work / "callgrind.out"
    command = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out}",
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        str(root),
        "--paths",
        ",".join(paths),
        "--n",
        str(n),
        "--signals",
        str(signals),
    ]
    log = open(work / "valgrind.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=root)  # noqa: S603
    control = ["callgrind_control"]
    counts = {}
    try:
        for i, path in enumerate(paths, start=1):
            _wait_for(signals / f"ready-{path}", process)
            subprocess.run(
                [*control, "-i", "on", str(process.pid)], check=True, capture_output=True
            )  # noqa: S603
            (signals / f"go-{path}").touch()
            _wait_for(signals / f"done-{path}", process)
            subprocess.run(
                [*control, "-i", "off", str(process.pid)], check=True, capture_output=True
            )  # noqa: S603
            subprocess.run([*control, "-d", str(process.pid)], check=True, capture_output=True)  # noqa: S603
            (signals / f"go-{path}").unlink()
            counts[path] = _totals(Path(f"{out}.{i}")) / n
        process.wait(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default="HEAD", help="git revision to compare with")
    parser.add_argument(
        "--paths", default=",".join(PATHS), help="comma-separated: join,save,submit"
    )
    parser.add_argument("--n", type=int, default=200, help="requests counted per path")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--signals", help=argparse.SUPPRESS)
    args = parser.parse_args()
    paths = [p for p in args.paths.split(",") if p]
    if any(p not in PATHS for p in paths) or not paths or args.n < 1:
        parser.error(f"--paths takes some of {', '.join(PATHS)}; --n at least 1")
    if args.child:
        child(args.child, paths, args.n, args.signals)
        return 0
    for tool in ("valgrind", "callgrind_control", "git"):
        if shutil.which(tool) is None:
            parser.error(f"{tool} is not installed (Debian: apt-get install valgrind)")
    work = Path(tempfile.mkdtemp(prefix="quiz-instructions-"))
    baseline_tree = work / "baseline-tree"
    try:
        subprocess.run(  # noqa: S603
            [
                "git",
                "-C",
                str(ROOT),
                "worktree",
                "add",
                "--detach",
                str(baseline_tree),
                args.baseline,
            ],  # noqa: S607
            check=True,
            capture_output=True,
        )
        # The compiled translations are not in git: the baseline takes the working tree's.
        for mo in ROOT.glob("quizapp/translations/*/LC_MESSAGES/messages.mo"):
            shutil.copy(mo, baseline_tree / mo.relative_to(ROOT))
        results = {}
        for name, root in (("baseline", baseline_tree), ("working tree", ROOT)):
            run_dir = work / ("run-" + name.replace(" ", "-"))
            run_dir.mkdir()
            print(f"counting {name} ({root}) ...", flush=True)
            results[name] = measure(root, paths, args.n, run_dir)
    finally:
        subprocess.run(  # noqa: S603
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(baseline_tree)],  # noqa: S607
            capture_output=True,
        )
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nInstructions per request (callgrind, user space, {args.n} per path;")
    print(f"baseline {args.baseline})\n")
    print("| path | baseline | working tree | ratio |")
    print("|---|---|---|---|")
    for path in paths:
        base, mine = results["baseline"][path], results["working tree"][path]
        print(f"| {path} | {base / 1e6:.2f} M | {mine / 1e6:.2f} M | {mine / base:.3f}× |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
