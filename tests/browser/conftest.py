"""Browser fixtures: the test app served on 127.0.0.1 by werkzeug in a thread, Debian's
Chromium through Playwright, and a phone context (WeChat's in-app browser on Android).

SQLite and the live server
--------------------------
The server thread handles each request in its own app context, so it gets its own
Flask-SQLAlchemy session and pooled connection (SQLAlchemy opens file databases with
``check_same_thread=False``). The test's own session (the ``app`` fixture keeps an app
context pushed) shares the database file, and the app starts every transaction with
``BEGIN IMMEDIATE``: a transaction left open in the test thread - even one opened by
reading an expired attribute - holds SQLite's write lock and stalls every request of the
server until the busy timeout. So ``live_server`` commits the test session, turns off its
``expire_on_commit`` (values of objects made by the factories stay readable without a new
transaction), and offers ``live_server.db(fn)``, which runs ``fn(session)`` in a fresh app
context whose session is closed afterwards - the way to read rows the server wrote.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from quizapp.extensions import db

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WECHAT_ANDROID_UA = (
    "Mozilla/5.0 (Linux; Android 12; M2012K11AC Build/SKQ1.211006.001; wv) "
    "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/107.0.5304.141 "
    "Mobile Safari/537.36 XWEB/5023 MMWEBSDK/20230202 MMWEBID/1 "
    "MicroMessenger/8.0.33.2320(0x2800213B) WeChat/arm64 Weixin NetType/WIFI "
    "Language/zh_CN ABI/arm64"
)
PHONE = {
    "viewport": {"width": 360, "height": 640},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
    "user_agent": WECHAT_ANDROID_UA,
}
TIMEOUT_MS = 10_000
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

# Loopback only: never let an environment proxy see the test traffic.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class LiveServer:
    url: str
    app: object

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        """Call the JSON API; returns (status, decoded body)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with _opener.open(req, timeout=10) as res:
                return res.status, json.loads(res.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")

    def get_bytes(self, path: str) -> tuple[int, str, bytes]:
        with _opener.open(self.url + path, timeout=10) as res:
            return res.status, res.headers.get("Content-Type", ""), res.read()

    def db(self, fn):
        """Run ``fn(db.session)`` in a fresh app context (a fresh session), commit and
        close it. Return plain values (or loaded objects, which stay readable detached)."""
        with self.app.app_context():
            db.session().expire_on_commit = False
            try:
                result = fn(db.session)
                db.session.commit()
                return result
            finally:
                db.session.remove()


@pytest.fixture
def live_server(app):
    db.session.commit()
    db.session().expire_on_commit = False
    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    app.config["PUBLIC_BASE_URL"] = url
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(url=url, app=app)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        db.session.rollback()  # the app fixture's cleanup runs next, in this thread


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def new_context(browser):
    """Factory for browser contexts (closed after the test); phone settings by default."""
    contexts = []

    def make(**options):
        settings = {**PHONE, **options}
        context = browser.new_context(**settings)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def phone(new_context):
    """A page in a fresh phone context: 360x640 @2x, touch, zh-CN, WeChat on Android."""
    return new_context().new_page()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
