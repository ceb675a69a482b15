"""Bank management pages: import with preview, export, template, edit, deactivate."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from quizapp.banks.models import Question
from quizapp.extensions import db
from tests.test_pages import login

GOOD = (
    "题型,题干,选项A,选项B,选项C,答案,解析\n单选,问题一,甲,乙,丙,B,因为\n判断,问题二,,,,错,因为\n"
)
BAD = "题型,题干,选项A,选项B,答案\n单选,问题一,甲,乙,Z\n填空,问题二,甲,乙,A\n"


def _count() -> int:
    return db.session.scalar(select(func.count()).select_from(Question))


def _upload(client, content: bytes, name="bank.csv", bank="我的题库"):
    return client.post(
        "/banks/import",
        data={"bank_name": bank, "file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
    )


@pytest.fixture
def organiser(client, make_user):
    user = make_user()
    login(client)
    return user


def test_import_preview_then_confirm_then_reimport_adds_nothing(client, organiser):
    r = _upload(client, GOOD.encode("gb18030"))
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and "问题一" in page and _count() == 0
    token = page.split('name="token" type="hidden" value="')[1].split('"')[0]
    r = client.post("/banks/import/confirm", data={"token": token})
    assert r.status_code == 302 and _count() == 2
    bank_page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "问题二" in bank_page
    again = _upload(client, GOOD.encode("utf-8-sig")).get_data(as_text=True)
    token = again.split('name="token" type="hidden" value="')[1].split('"')[0]
    client.post("/banks/import/confirm", data={"token": token})
    assert _count() == 2
    assert client.post("/banks/import/confirm", data={"token": token}).status_code == 302
    assert _count() == 2


def test_import_lists_row_errors_and_changes_nothing(client, organiser):
    r = _upload(client, BAD.encode())
    page = r.get_data(as_text=True)
    assert r.status_code == 422 and _count() == 0
    assert "<td>2</td>" in page and "<td>3</td>" in page and 'name="token"' not in page


@pytest.mark.parametrize(
    "content,name",
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "old.xls"),
        (b"%PDF-1.4 hello", "fake.xlsx"),
        (b"hello", "notes.txt"),
    ],
)
def test_import_refuses_wrong_files_with_a_message(client, organiser, content, name):
    r = _upload(client, content, name)
    assert r.status_code == 422 and _count() == 0
    assert "flash-error" in r.get_data(as_text=True) or 'class="error"' in r.get_data(as_text=True)


def test_oversize_upload_is_refused_with_413(client, app, organiser):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    r = _upload(client, b"x" * 5000)
    assert r.status_code == 413


def test_export_and_template_downloads(client, organiser, make_bank):
    bank = make_bank()
    r = client.get(f"/banks/{bank.id}/export.csv")
    assert r.status_code == 200 and r.data.startswith(b"\xef\xbb\xbf")
    r = client.get(f"/banks/{bank.id}/export.xlsx")
    assert r.status_code == 200 and r.data.startswith(b"PK")
    r = client.get("/banks/template.xlsx")
    assert r.status_code == 200 and r.data.startswith(b"PK")
    from quizapp.banks.parsing import parse_upload

    assert len(parse_upload(r.data, "t.xlsx").questions) == 2


def test_edit_and_deactivate_own_question(client, organiser, make_bank, make_event, now):
    bank = make_bank(name="单位题库", organization=organiser.organization)
    question = db.session.scalars(select(Question).where(Question.bank_id == bank.id)).first()
    r = client.post(
        f"/banks/questions/{question.id}/edit",
        data={
            "type": "single",
            "stem": "新题干",
            "options": "一\n二",
            "answer": "Q",
            "difficulty": "2",
            "is_active": "y",
        },
    )
    assert r.status_code == 422 and question.stem != "新题干"
    r = client.post(
        f"/banks/questions/{question.id}/edit",
        data={
            "type": "single",
            "stem": "新题干",
            "options": "一\n二",
            "answer": "Ｂ",
            "difficulty": "2",
            "is_active": "y",
        },
    )
    assert r.status_code == 302
    db.session.refresh(question)
    assert question.stem == "新题干" and question.answer == "B"
    client.post(f"/banks/questions/{question.id}/active", data={"active": "0"})
    db.session.refresh(question)
    assert question.is_active is False


def test_shared_and_foreign_banks_are_read_only(client, organiser, make_bank, make_user):
    from quizapp.auth.services import get_or_create_organization

    shared = make_bank(name="共享")
    foreign = make_bank(name="别人的", organization=get_or_create_organization("别的单位"))
    q_shared = db.session.scalars(select(Question).where(Question.bank_id == shared.id)).first()
    q_foreign = db.session.scalars(select(Question).where(Question.bank_id == foreign.id)).first()
    assert client.get(f"/banks/{shared.id}").status_code == 200
    assert client.get(f"/banks/{foreign.id}").status_code == 404
    assert client.get(f"/banks/{foreign.id}/export.csv").status_code == 404
    for q in (q_shared, q_foreign):
        assert client.get(f"/banks/questions/{q.id}/edit").status_code == 404
        assert (
            client.post(f"/banks/questions/{q.id}/active", data={"active": "0"}).status_code == 404
        )
    r = _upload(client, GOOD.encode(), bank="别人的")
    assert r.status_code == 422 and _count() == 2 * 36
