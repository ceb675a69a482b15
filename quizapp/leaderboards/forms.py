"""Organiser forms for leaderboards and screens."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField
from wtforms import BooleanField, IntegerField, SelectField, TextAreaField
from wtforms.validators import InputRequired, NumberRange, Optional

METRIC_CHOICES = [
    ("average", _l("Average of each member's best score")),
    ("participation", _l("Participation rate (needs headcounts)")),
    ("full_rate", _l("Share of members with a full score")),
    ("total", _l("Total of members' best scores")),
]


class BoardForm(FlaskForm):
    """The unit ranking's metric, how many people the boards show, masking."""

    unit_metric = SelectField(_l("Unit ranking by"), choices=METRIC_CHOICES)
    top_n = IntegerField(
        _l("People shown on leaderboards"), validators=[InputRequired(), NumberRange(1, 100)]
    )
    mask_names = BooleanField(_l("Mask names on public screens"))


class HeadcountImportForm(FlaskForm):
    """Headcounts by unit name: pasted lines ``name,headcount`` or a .csv/.xlsx file."""

    text = TextAreaField(_l("Lines of unit name, headcount"), validators=[Optional()])
    file = FileField(
        _l("…or a file (.xlsx or .csv)"),
        validators=[FileAllowed(["xlsx", "csv"], _l("Please choose a .xlsx or .csv file."))],
    )
