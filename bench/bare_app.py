"""The baseline for bench/load_bench.py: a bare Flask app with the answer-save route's
shape (same URL, JSON body in, same JSON out) and nothing else — no database, no
extensions, no session. Served by the same gunicorn settings as the real app:

    gunicorn -c gunicorn.conf.py bench.bare_app:app
"""

from __future__ import annotations

from flask import Flask, jsonify, request

app = Flask("bare")


@app.put("/api/v1/attempts/<token>/answers/<int:position>")
def answer(token: str, position: int):
    data = request.get_json(silent=True, force=True) or {}
    return jsonify({"saved": True, "position": position, "choice": data.get("choice")})


@app.get("/healthz")
def healthz():
    return {"status": "ok"}
