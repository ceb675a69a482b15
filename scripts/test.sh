#!/usr/bin/env bash
# Install what the tests need and run them all: on SQLite, on PostgreSQL
# (127.0.0.1:5432, a fresh database per run, dropped afterwards) and in Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi "wenquanyi\|wqy"; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null
  else
    echo "Chromium and fonts-wqy-microhei are needed: sudo apt-get install chromium fonts-wqy-microhei" >&2
  fi
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/pip install --quiet --upgrade pip
.venv/bin/pip install --quiet -r requirements-dev.txt
.venv/bin/pybabel compile --domain messages --directory quizapp/translations --use-fuzzy >/dev/null 2>&1 || true

# PostgreSQL: start the machine's cluster if it is installed but not running.
if command -v pg_isready >/dev/null && ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  if command -v pg_ctlcluster >/dev/null && [ "$(id -u)" = 0 ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
fi

.venv/bin/ruff check quizapp tests bench
echo "== Security: bandit (static analysis; skips explained in pyproject.toml) =="
.venv/bin/bandit -q -r quizapp -c pyproject.toml
echo "== Security: pip-audit (known vulnerabilities in requirements.txt) =="
# Fails on a known vulnerability; says NOT AUDITED and goes on when the vulnerability
# service cannot be reached from this machine (see SECURITY.md).
.venv/bin/python scripts/audit_requirements.py
echo "== Benchmark smoke run (no timing asserted) =="
.venv/bin/python bench/app_bench.py --quick 2>/dev/null
.venv/bin/python bench/rank_bench.py --quick 2>/dev/null | tail -4
.venv/bin/python bench/load_bench.py --quick --backend sqlite
.venv/bin/python bench/load_bench.py --quick --backend sqlite --flow pages
.venv/bin/python bench/load_bench.py --quick --backend sqlite --joins-only 1 --compare SETUP_CACHE_S=1 | tail -4
echo "== SQLite (unit, integration, browser) =="
.venv/bin/python -m pytest -q "$@"
echo "== PostgreSQL (unit, integration) =="
QUIZ_TEST_DB=postgres .venv/bin/python -m pytest -q -m "not browser" "$@"
