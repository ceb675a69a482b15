from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _count(label):
    return IntegerField(label, default=0, validators=[InputRequired(), NumberRange(0, 200)])


def _points(label):
    return IntegerField(label, default=5, validators=[InputRequired(), NumberRange(0, 100)])


class CompetitionForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    theme = StringField(_l("Theme"), validators=[Optional(), Length(max=200)])
    opens_at = DateTimeLocalField(_l("Opens at"), validators=[DataRequired()])
    closes_at = DateTimeLocalField(_l("Closes at"), validators=[Optional()])
    time_limit = IntegerField(
        _l("Time limit (minutes)"), default=10, validators=[InputRequired(), NumberRange(1, 1440)]
    )
    banks = MultiCheckboxField(_l("Question banks"), coerce=int)
    single_count = _count(_l("Single-choice questions"))
    single_points = _points(_l("Points each"))
    multiple_count = _count(_l("Multiple-choice questions"))
    multiple_points = _points(_l("Points each"))
    judge_count = _count(_l("True/false questions"))
    judge_points = _points(_l("Points each"))
    multiple_scoring = SelectField(
        _l("Multiple choice scoring"),
        default="all",
        choices=[
            ("all", _l("All or nothing")),
            ("half", _l("Half points when some correct options are chosen and none wrong")),
            ("proportional", _l("Points in proportion to correct options, none if any wrong")),
        ],
    )
    question_time = IntegerField(
        _l("Seconds per question (empty: no per-question limit)"),
        validators=[Optional(), NumberRange(5, 3600)],
    )
    speed_bonus = BooleanField(_l("Speed bonus (needs seconds per question)"))
    elder_time_limit = IntegerField(
        _l("Elder mode: time limit (minutes; empty: the same)"),
        validators=[Optional(), NumberRange(1, 1440)],
    )
    elder_question_time = IntegerField(
        _l("Elder mode: seconds per question (empty: the same)"),
        validators=[Optional(), NumberRange(5, 3600)],
    )
    unit_metric = SelectField(
        _l("Unit ranking by"),
        default="average",
        choices=[
            ("average", _l("Average of each member's best score")),
            ("participation", _l("Participation rate (needs headcounts)")),
            ("full_rate", _l("Share of members with a full score")),
            ("total", _l("Total of members' best scores")),
        ],
    )
    top_n = IntegerField(
        _l("People shown on leaderboards"),
        default=10,
        validators=[InputRequired(), NumberRange(1, 100)],
    )
    certificate_min_score = IntegerField(
        _l("Score that earns a certificate (empty: no certificates)"),
        validators=[Optional(), NumberRange(0, 100000)],
    )
    attempts = IntegerField(
        _l("Attempts allowed"), default=1, validators=[InputRequired(), NumberRange(1, 100)]
    )
    reveal = SelectField(
        _l("Show correct answers"),
        choices=[
            ("after_submit", _l("Right after submitting")),
            ("after_close", _l("After the competition closes")),
            ("never", _l("Never")),
        ],
    )
    units = TextAreaField(
        _l("Units (one per line; optionally “name,headcount”)"),
        validators=[Optional(), Length(max=20000)],
    )
    free_units = BooleanField(_l("Participants may type their own unit"))
    mask_names = BooleanField(_l("Mask names on public screens"), default=True)
    submit = SubmitField(_l("Create competition"))


class EventForm(FlaskForm):
    name = StringField(_l("Event name"), validators=[DataRequired(), Length(max=200)])
    venue = StringField(_l("Venue"), validators=[Optional(), Length(max=200)])
    elder_default = BooleanField(_l("Elder mode by default on this event's phones"))
    submit = SubmitField(_l("Add event"))


class RuleForm(FlaskForm):
    qtype = SelectField(
        _l("Type"),
        choices=[
            ("single", _l("Single choice")),
            ("multiple", _l("Multiple choice")),
            ("judge", _l("True or false")),
        ],
    )
    category = SelectField(_l("Category"), choices=[], validate_choice=False)
    difficulty = SelectField(
        _l("Difficulty"), choices=[("", _l("Any")), ("1", "1"), ("2", "2"), ("3", "3")]
    )
    banks = MultiCheckboxField(
        _l("Banks (none ticked: the competition's banks)"), coerce=int, validate_choice=False
    )
    count = IntegerField(
        _l("Questions"), default=5, validators=[InputRequired(), NumberRange(1, 200)]
    )
    points = IntegerField(
        _l("Points each"), default=5, validators=[InputRequired(), NumberRange(0, 100)]
    )
    submit = SubmitField(_l("Add row"))


class BulkEventsForm(FlaskForm):
    events = TextAreaField(
        _l("Events, one per line: name,venue"),
        validators=[DataRequired(), Length(max=40000)],
    )
    submit = SubmitField(_l("Add these events"))


class CopyForm(FlaskForm):
    title = StringField(_l("Title of the copy"), validators=[DataRequired(), Length(max=200)])
    submit = SubmitField(_l("Copy competition"))
