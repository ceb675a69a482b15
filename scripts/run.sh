#!/usr/bin/env bash
# Set up and run the app on this machine: virtualenv, dependencies, database schema,
# starter question bank, demo competition; then gunicorn on 0.0.0.0:${PORT:-8000}.
# Prints the organiser login and the LAN join and screen URLs.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-8000}"
PYTHON="${PYTHON:-python3}"

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/pip install --quiet --upgrade pip
.venv/bin/pip install --quiet -r requirements.txt
.venv/bin/pybabel compile --domain messages --directory quizapp/translations --use-fuzzy >/dev/null 2>&1 || true

if [ -z "${PUBLIC_BASE_URL:-}" ]; then
  lan_ip="$(hostname -I 2>/dev/null | awk '{print $1}')"
  export PUBLIC_BASE_URL="http://${lan_ip:-127.0.0.1}:${PORT}"
fi

flask() { .venv/bin/flask --app quizapp "$@"; }
flask db upgrade
flask bank load
flask demo

echo
echo "Quality Month quiz is starting on ${PUBLIC_BASE_URL} (Ctrl-C to stop)."
echo "Phones on the same network can open the join URL above, or scan the QR code"
echo "on the event page. Set PUBLIC_BASE_URL if phones reach this server by another address."
exec .venv/bin/gunicorn --config gunicorn.conf.py --bind "0.0.0.0:${PORT}" wsgi:app
