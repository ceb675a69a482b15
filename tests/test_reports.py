"""Organiser reports: per-question statistics, charts' data, exports and the activity summary."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from flask_babel import refresh

from quizapp.extensions import db
from quizapp.play import services
from quizapp.play.models import Attempt
from quizapp.play.presenters import attempt_payload
from quizapp.reports import stats
from quizapp.reports.facts import AttemptFact
from quizapp.reports.summary import activity_summary
from tests.conftest import correct_choice
from tests.test_pages import login

SINGLES = {"single": 2, "multiple": 0, "judge": 0}
POINTS = {"single": 5, "multiple": 10, "judge": 5}
FORMULA_START = tuple("=+-@＝＋－＠\t\r")


def get(client, url):
    """A request with a fresh locale choice (Flask-Babel caches it on the test's ``g``)."""
    refresh()
    return client.get(url)


def by_text(plan: dict[int, str]):
    """Answer question ``n`` (the one whose right option is "right n") with the option
    of that text; "" leaves it unanswered. Works whatever the shuffle."""

    def choose(q):
        for n, text in plan.items():
            if any(o["text"] == f"right {n}" for o in q["options"]):
                return "".join(o["key"] for o in q["options"] if o["text"] == text)
        return ""

    return choose


def play(event, name, phone, choose=correct_choice, *, now, seconds=60, unit=0, submit=True):
    """Join, answer every question with ``choose(question)``, submit after ``seconds``."""
    comp = event.competition
    attempt, _ = services.join(
        event.join_token, name=name, phone=phone, unit_id=comp.units[unit].id, now=now
    )
    for q in attempt_payload(attempt, now)["questions"]:
        choice = choose(q)
        if choice:
            services.save_answer(attempt.token, q["position"], choice, now)
    if submit:
        services.submit(attempt.token, now + timedelta(seconds=seconds))
    return attempt


@pytest.fixture
def two_singles(make_competition, make_bank, make_event):
    """A competition drawing the same two single-choice questions for everybody."""
    comp = make_competition(counts=SINGLES, points=POINTS, bank=make_bank(n=2))
    return make_event(comp)


def test_wrong_option_is_reported_by_text_whatever_the_shuffle(two_singles, now):
    event = two_singles
    plans = [
        {0: "wrong 0b", 1: "right 1"},
        {0: "wrong 0b", 1: "right 1"},
        {0: "wrong 0a", 1: "wrong 1c"},
        {0: "right 0", 1: ""},
        {0: "right 0", 1: "right 1"},
    ]
    for i, plan in enumerate(plans):
        play(event, f"选手{i}", f"1380000000{i}", by_text(plan), now=now, seconds=30 + i)
    orders = {
        item.option_order
        for a in db.session.scalars(db.select(Attempt))
        for item in a.items
        if "right 0" in item.options
    }
    assert len(orders) > 1, "the test needs shuffled options to mean anything"

    q0, q1 = sorted(stats.question_stats(event.competition_id), key=lambda s: s.answer)
    assert (q0.answer, q0.drawn, q0.answered, q0.correct) == ("right 0", 5, 5, 2)
    assert q0.correct_rate == pytest.approx(0.4)
    assert q0.top_wrong == ("wrong 0b", 2)
    assert (q1.answer, q1.drawn, q1.answered, q1.correct) == ("right 1", 5, 4, 3)
    assert q1.top_wrong == ("wrong 1c", 1)


def test_discrimination_is_top_minus_bottom_27_percent(two_singles, now):
    event = two_singles
    # Ranking: B (10), then A, C, D on 5 points by time used; top = {B}, bottom = {D}.
    play(event, "甲", "13800000001", by_text({0: "right 0", 1: "wrong 1a"}), now=now, seconds=10)
    play(event, "乙", "13800000002", correct_choice, now=now, seconds=20)
    play(event, "丙", "13800000003", by_text({0: "right 0", 1: "wrong 1a"}), now=now, seconds=15)
    play(event, "丁", "13800000004", by_text({0: "wrong 0a", 1: "right 1"}), now=now, seconds=30)
    play(event, "戊", "13800000005", correct_choice, now=now, submit=False)  # active: ignored

    found = {s.answer: s for s in stats.question_stats(event.competition_id)}
    assert found["right 0"].discrimination == pytest.approx(1.0)
    assert found["right 1"].discrimination == pytest.approx(0.0)
    assert found["right 0"].drawn == 4


def test_extreme_groups_take_27_percent_of_each_end():
    assert stats.extreme_groups([1]) == (set(), set())
    assert stats.extreme_groups([1, 2]) == ({1}, {2})
    top, bottom = stats.extreme_groups(list(range(100)))
    assert top == set(range(27)) and bottom == set(range(73, 100))


def _fact(i, score=0, started=None, finished=None, status="submitted", participant=None):
    started = started or datetime(2024, 9, 1, 2, tzinfo=UTC)
    return AttemptFact(
        i, participant or i, None, None, status, score, 100, 1000, started, finished or started
    )


def test_score_bands_end_with_the_full_score():
    bins = stats.score_distribution([_fact(1, 100), _fact(2, 95), _fact(3, 0), _fact(4, 9)], 100)
    assert [b.label for b in bins][:2] == ["0–9", "10–19"]
    assert bins[-2].label == "90–99" and bins[-1].label == "100"
    assert [b.count for b in bins] == [2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1]
    odd = stats.score_distribution([_fact(1, 35), _fact(2, 34)], 35)
    assert (odd[-2].label, odd[-2].count, odd[-1].label, odd[-1].count) == ("32–34", 1, "35", 1)


def test_days_are_counted_in_shanghai_time_with_gaps_filled():
    tz = ZoneInfo("Asia/Shanghai")
    late = datetime(2024, 9, 1, 17, 30, tzinfo=UTC)  # 2 Sept 01:30 in Beijing
    early = datetime(2024, 9, 1, 1, 0, tzinfo=UTC)  # 1 Sept 09:00
    facts = [
        _fact(1, started=early, participant=1),
        _fact(2, started=early + timedelta(hours=1), participant=1),
        _fact(3, started=late, participant=2),
        _fact(4, started=late + timedelta(days=2), participant=3, status="active"),
    ]
    days = stats.participation_by_day(facts, tz)
    assert [d.day.isoformat() for d in days] == [
        "2024-09-01",
        "2024-09-02",
        "2024-09-03",
        "2024-09-04",
    ]
    assert [(d.participants, d.attempts, d.finished) for d in days] == [
        (1, 2, 2),
        (1, 1, 1),
        (0, 0, 0),
        (1, 1, 0),
    ]


def test_statistics_page_draws_charts_from_json(client, make_user, two_singles, now):
    play(two_singles, "甲", "13800000001", by_text({0: "wrong 0c"}), now=now)
    make_user()
    login(client)
    res = get(client, f"/competitions/{two_singles.competition_id}/statistics?lang=en")
    page = res.get_data(as_text=True)
    assert res.status_code == 200
    assert 'id="chart-data"' in page and 'data-chart="scores"' in page and "wrong 0c" in page
    assert "vendor/chartjs/chart.umd.min.js" in page and "js/charts.js" in page
    assert "style=" not in page and "<script>" not in page  # the CSP allows neither


def _poison(attempt_id: int) -> None:
    """Give a participant a name and unit that a spreadsheet would run as formulas."""
    attempt = db.session.get(Attempt, attempt_id)
    attempt.participant.name = '=HYPERLINK("http://evil.example","x")'
    attempt.participant.unit.name = "＠SUM(1)"
    attempt.event.name = "\t-2+3"
    db.session.commit()


def _no_formula(value) -> bool:
    return not (isinstance(value, str) and value.startswith(FORMULA_START))


def test_results_export_csv_and_xlsx_have_every_field_and_no_formula(
    client, make_user, make_event, now
):
    event = make_event()
    play(event, "张三", "13912345678", now=now, seconds=42)
    other = make_event(event.competition, name="分会场")
    bad = play(other, "李四", "13912345679", lambda q: "", now=now, unit=1)
    _poison(bad.id)
    make_user()
    login(client)
    base = f"/competitions/{event.competition_id}/results"

    res = get(client, base + ".csv?lang=en")
    assert res.status_code == 200 and res.mimetype == "text/csv"
    assert "attachment" in res.headers["Content-Disposition"]
    assert res.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(res.data.decode("utf-8-sig"))))
    header, first, second = rows
    assert header[:13] == [
        "Name",
        "Phone",
        "Unit",
        "Event",
        "Attempt",
        "Status",
        "Score",
        "Full score",
        "Correct answers",
        "Time used (s)",
        "Started",
        "Submitted at",
        "Focus losses",
    ]
    assert header[13:] == [f"Q{n}" for n in range(1, 8)]
    assert first[:10] == ["张三", "13912345678", "东城区", "主会场", "1", "Submitted"] + [
        "45",
        "45",
        "7",
        "42.0",
    ]
    started = now.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M:%S")
    assert first[10] == started
    assert all(cell.endswith("✓") for cell in first[13:])
    assert second[0] == '\'=HYPERLINK("http://evil.example","x")'
    assert second[2] == "'＠SUM(1)" and second[3] == "'\t-2+3"
    assert all(cell == "" for cell in second[13:])
    assert all(_no_formula(cell) for row in rows for cell in row)

    res = get(client, base + ".xlsx?lang=en")
    assert res.status_code == 200 and res.mimetype.endswith("spreadsheetml.sheet")
    book = openpyxl.load_workbook(io.BytesIO(res.data))
    cells = [c for ws in book.worksheets for row in ws.iter_rows() for c in row]
    assert all(c.data_type != "f" and _no_formula(c.value) for c in cells)
    sheet = book.worksheets[0]
    assert sheet["A2"].value == "张三" and sheet["G2"].value == 45 and sheet["J2"].value == 42.0
    assert isinstance(sheet["K2"].value, datetime)
    assert sheet["A3"].value.startswith("'=")

    only_active = client.get(base + ".csv?status=active").data.decode("utf-8-sig")
    assert "张三" not in only_active


def test_summary_figures_per_unit_and_full_score_per_person(make_competition, make_event, now):
    comp = make_competition(attempts=2)
    comp.units[0].headcount = 4
    comp.units[1].headcount = 10
    db.session.commit()
    event = make_event(comp)
    # 张三's best attempt is full: she counts as a full score despite a poor second try.
    play(event, "张三", "13900000001", now=now, seconds=50)
    play(event, "张三", "13900000001", lambda q: "", now=now + timedelta(minutes=5))
    play(event, "李四", "13900000002", lambda q: "", now=now, seconds=70)
    play(event, "王五", "13900000003", now=now, unit=1, submit=False)

    s = activity_summary(comp)
    east, west, chaoyang = s.units
    assert (east.participants, east.finished, east.attempts) == (2, 2, 3)
    assert east.participation_rate == pytest.approx(0.5)
    assert east.average == pytest.approx(22.5) and east.full_rate == pytest.approx(0.5)
    assert west.participation_rate == pytest.approx(0.1) and west.finished == 0
    assert chaoyang.participation_rate is None and chaoyang.participants == 0
    o = s.overall
    assert (o.participants, o.finished, o.attempts, o.full_scores) == (3, 2, 4, 1)
    assert o.headcount == 14 and o.participation_rate == pytest.approx(3 / 14)
    assert [e.name for e in s.events] == ["主会场"] and s.events[0].participants == 3
    assert [p.name for p in s.top_people] == ["张三", "李四"]
    assert s.top_units[0].name == "东城区" and s.top_participation[0].name == "东城区"
    assert sum(d.attempts for d in s.days) == 4
    assert s.bins[-1].count == 1 and s.bins[0].count == 1
    assert len(s.hardest) <= 10 and s.hardest[0].correct_rate <= s.hardest[-1].correct_rate


def test_summary_page_and_workbook(client, make_user, make_event, now):
    event = make_event()
    play(event, "张三", "13900000001", now=now)
    make_user()
    login(client)
    base = f"/competitions/{event.competition_id}/summary"
    page = get(client, base).get_data(as_text=True)
    assert "活动总结" in page and "张三" in page and 'data-chart="days"' in page
    assert 'id="print-btn"' in page and "summary-body" in page
    res = get(client, base + ".xlsx?lang=en")
    assert res.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(res.data))
    assert book.sheetnames == [
        "Overview",
        "By event",
        "By unit",
        "By day",
        "Score distribution",
        "Top individuals",
        "Top units",
        "Hardest questions",
        "Question statistics",
    ]
    overview = {row[0]: row[1] for row in book["Overview"].iter_rows(values_only=True)}
    assert overview["Participants"] == 1 and overview["Full-score rate (percent)"] == 100.0
    cells = [c for ws in book.worksheets for row in ws.iter_rows() for c in row]
    assert all(c.data_type != "f" and _no_formula(c.value) for c in cells)


def test_empty_competition_reports_render(client, make_user, make_competition):
    comp = make_competition()
    make_user()
    login(client)
    for path in ("statistics", "summary", "summary.xlsx", "results.csv", "results.xlsx"):
        assert client.get(f"/competitions/{comp.id}/{path}").status_code == 200, path


ORGANISER_PATHS = ("results.csv", "results.xlsx", "statistics", "summary", "summary.xlsx")


def test_other_organizations_get_404_and_strangers_the_login(client, make_user, make_event):
    event = make_event()
    for path in ORGANISER_PATHS:
        res = client.get(f"/competitions/{event.competition_id}/{path}")
        assert res.status_code == 302 and "/auth/login" in res.location, path
    make_user(email="other@example.com", org="别的单位")
    login(client, email="other@example.com")
    for path in ORGANISER_PATHS:
        assert client.get(f"/competitions/{event.competition_id}/{path}").status_code == 404, path
    assert client.get("/competitions/999999/summary").status_code == 404


def test_pages_link_to_the_reports(client, make_user, make_event):
    event = make_event()
    make_user()
    login(client)
    comp_id = event.competition_id
    detail = client.get(f"/competitions/{comp_id}").get_data(as_text=True)
    assert f"/competitions/{comp_id}/statistics" in detail
    assert f"/competitions/{comp_id}/summary" in detail
    results = client.get(f"/competitions/{comp_id}/results?status=submitted").get_data(as_text=True)
    assert f"/competitions/{comp_id}/results.xlsx?status=submitted" in results
    assert f"/competitions/{comp_id}/results.csv?status=submitted" in results
