from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, SubmitField, TelField
from wtforms.validators import DataRequired, Length, Optional


class JoinForm(FlaskForm):
    """Name, phone and unit. Field names are a stable page hook (see API.md)."""

    name = StringField(
        _l("Name"),
        validators=[DataRequired(), Length(max=30)],
        render_kw={"autocomplete": "name", "maxlength": 30},
    )
    phone = TelField(
        _l("Mobile number"),
        validators=[DataRequired(), Length(max=20)],
        render_kw={"autocomplete": "tel", "inputmode": "numeric", "maxlength": 20},
    )
    unit_id = SelectField(_l("Unit"), coerce=str, validate_choice=False, validators=[Optional()])
    unit_name = StringField(
        _l("Unit"),
        validators=[Optional(), Length(max=120)],
        render_kw={"autocomplete": "organization", "maxlength": 120},
    )
    # Sent by the elder-mode switch on the join page (form="join-form").
    elder = BooleanField(_l("Elder mode"))
    submit = SubmitField(_l("Start the quiz"))
