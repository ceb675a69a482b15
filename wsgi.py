"""WSGI entry point for gunicorn: ``gunicorn wsgi:app``.

The web app leaves out the command-line commands and migrations (``flask --app quizapp``
has them), so that each worker loads less.
"""

from quizapp import create_app

app = create_app(cli=False)
