"""Organiser reports: exports, statistics, the activity summary and certificates."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("reports", __name__)
