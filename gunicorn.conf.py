"""gunicorn settings (override any of them with GUNICORN_CMD_ARGS or environment)."""

import multiprocessing
import os
import resource

bind = os.environ.get("BIND", "0.0.0.0:8000")
_postgres = os.environ.get("DATABASE_URL", "").startswith(("postgres", "postgresql"))
workers = int(os.environ.get("WEB_CONCURRENCY", min(multiprocessing.cpu_count() * 2, 4)))
# Idle keep-alive connections (phones thinking) wait in each worker's poller, not in a
# thread; threads only run requests. On SQLite two per worker: a request there waits for
# nothing but the CPU, and more threads only queue for Python's GIL. On PostgreSQL four:
# a thread waits for the database server's answer to each statement (a join sends
# seven and a commit), and with two the cached event GET waited behind joins that
# waited for it.
# Measured with bench/load_bench.py on 2 cores, 4 workers (bench/RESULTS.md, session 9):
# PostgreSQL with 4 threads against 2, 5,000 phones joining within 10 s: join p99 2.5 s
# against 3.4 s, event GET p99 4.1 s against 5.8 s; answer saves 0.53x against 0.47x
# the bare endpoint. On SQLite, 2 workers x 4 threads took a tenth less CPU per phone
# in the joins of a start, but in its two full starts the submits waited longer (p99
# 0.4 and 3.8 s against 0.06-0.07 s; session 19): not the default.
threads = int(os.environ.get("GUNICORN_THREADS", 4 if _postgres else 2))
# Open connections per worker (keep-alive included): 8,000 phones in all can keep theirs
# open without nginx in front (gunicorn's default is 1,000 per worker).
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", max(1000, -(-8000 // workers))))
# Each connection is a file descriptor: raise the soft limit (systemd gives services
# 1,024 unless LimitNOFILE says otherwise) as far as the hard limit allows, so that a
# worker does not fail its accepts (EMFILE) long before worker_connections.
_wanted = workers * worker_connections + 1024  # the database, logs, the app's own files
_soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if _soft != resource.RLIM_INFINITY and _soft < _wanted:
    _limit = _wanted if _hard == resource.RLIM_INFINITY else min(_wanted, _hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(_soft, _limit), _hard))
worker_class = "gthread"
timeout = 30
graceful_timeout = 20
# Phones pause between answers (think time); a keep-alive longer than that pause saves
# them a new connection per answer, and a connection closed while a phone is about to
# reuse it fails that request (idle connections cost a gthread worker no thread).
keepalive = int(os.environ.get("KEEPALIVE", 20))
# Recycling workers after N requests is off by default: during a start burst a recycle
# drops every keep-alive connection of that worker at once (measured: bench/RESULTS.md),
# and workers do not grow (RSS after a 2,000-phone burst is within 10 MB of the start).
# Set MAX_REQUESTS to turn it on; workers then restart after N ± 10 % requests.
max_requests = int(os.environ.get("MAX_REQUESTS", 0))
max_requests_jitter = max_requests // 10
# No access log of gunicorn's own by default: nginx in front logs every request (with
# the client's address), and writing the line cost gunicorn 40-60 us of a request's
# 230-290 us on a bare endpoint (wrk, 32 connections; bench/RESULTS.md). ACCESS_LOG=-
# writes it to stdout (the journal under systemd), or give a file.
accesslog = os.environ.get("ACCESS_LOG", "").strip() or None
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# gunicorn's control socket defaults to one path per user (~/.gunicorn/gunicorn.ctl), which
# every gunicorn of that user would share; the app does not use it.
control_socket_disable = os.environ.get("GUNICORN_CONTROL_SOCKET", "") != "1"
