from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional


class ImportForm(FlaskForm):
    bank_name = StringField(_l("Bank name"), validators=[DataRequired(), Length(max=120)])
    file = FileField(
        _l("File (.xlsx or .csv)"),
        validators=[
            FileRequired(),
            FileAllowed(["xlsx", "csv", "xls"], _l("Please choose a .xlsx or .csv file.")),
        ],
    )
    submit = SubmitField(_l("Check the file"))


class ConfirmImportForm(FlaskForm):
    token = HiddenField(validators=[DataRequired()])
    submit = SubmitField(_l("Import these questions"))


class QuestionForm(FlaskForm):
    type = SelectField(
        _l("Type"),
        choices=[
            ("single", _l("Single choice")),
            ("multiple", _l("Multiple choice")),
            ("judge", _l("True or false")),
        ],
    )
    stem = TextAreaField(_l("Question"), validators=[DataRequired(), Length(max=2000)])
    options = TextAreaField(
        _l("Options, one per line (A, B, C … in order)"), validators=[Optional(), Length(max=4500)]
    )
    answer = StringField(
        _l("Answer (e.g. B, ABD, 对/错)"), validators=[DataRequired(), Length(max=20)]
    )
    explanation = TextAreaField(_l("Explanation"), validators=[Optional(), Length(max=4000)])
    category = StringField(_l("Category"), validators=[Optional(), Length(max=100)])
    difficulty = IntegerField(
        _l("Difficulty (1–3)"), default=2, validators=[DataRequired(), NumberRange(1, 3)]
    )
    source = StringField(_l("Source"), validators=[Optional(), Length(max=500)])
    is_active = BooleanField(_l("Active (may be drawn)"), default=True)
    submit = SubmitField(_l("Save"))
