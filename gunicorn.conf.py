"""gunicorn settings (override any of them with GUNICORN_CMD_ARGS or environment)."""

import multiprocessing
import os

bind = os.environ.get("BIND", "0.0.0.0:8000")
# Threads carry the many idle phones (think time) without many processes.
workers = int(os.environ.get("WEB_CONCURRENCY", min(multiprocessing.cpu_count() * 2, 4)))
threads = int(os.environ.get("GUNICORN_THREADS", 4))
worker_class = "gthread"
timeout = 30
graceful_timeout = 20
keepalive = 5
max_requests = 5000
max_requests_jitter = 500
accesslog = os.environ.get("ACCESS_LOG", "-")
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
