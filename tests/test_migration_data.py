"""Data survives the migrations, on SQLite and on PostgreSQL.

For every revision before head: a fresh database is migrated to it and filled with a
realistic dataset (Chinese text, emoji, NULLs, microsecond timestamps, JSON, binary,
64-bit seeds) written with plain SQL against the schema reflected at that revision, only
its tables and columns. It is then upgraded to head, and:

- every table keeps its row count and the checksum of its stored rows (as the driver
  returns them, ordered by primary key) over the columns it had;
- read through the app's models, every row equals the dataset, and every column added
  since holds its documented backfill (``BACKFILL``) or NULL;
- the schema equals the models, and the app works on the data: every model loads,
  rankings, counts, results and the activity summary agree with the dataset, an
  active attempt can be submitted, and new rows get fresh ids.

From head, filled, the migrations go down one step at a time to the initial revision
and back up: what survives each step (tables and columns both sides have) is unchanged,
and the end state is the dataset as if written at the initial revision and upgraded.

The migration chain is read from the migrations directory, never hard-coded; it must have
a single head. PostgreSQL (``QUIZ_TEST_DB=postgres``): a fresh database per test on the
conftest's server, dropped afterwards.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import MetaData, inspect, select, text

# Every table (and the leaderboards' indexes) on db.metadata, without an app.
import quizapp.auth.models
import quizapp.banks.models
import quizapp.competitions.models
import quizapp.leaderboards.models
import quizapp.play.models  # noqa: F401
from quizapp import create_app
from quizapp.extensions import db
from tests.conftest import _postgres_database

POSTGRES = os.environ.get("QUIZ_TEST_DB") == "postgres"
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
SCRIPT = ScriptDirectory(str(MIGRATIONS))
# Base first, head last.
REVISIONS = [rev.revision for rev in reversed(list(SCRIPT.walk_revisions("base", "heads")))]
HEAD = REVISIONS[-1]

# Columns added NOT NULL after a table was created, and the value existing rows get (the
# migrations' server defaults, which keep today's behaviour). Columns added as nullable
# are expected to be NULL on existing rows. A new NOT NULL column on an existing table
# fails the test until its backfill is written down here.
BACKFILL = {
    ("competitions", "multiple_scoring"): "all",  # 9a164e6cace9: all or nothing
    ("competitions", "speed_bonus"): False,  # eeb8a94e95b3
    ("competitions", "unit_metric"): "average",  # eeb8a94e95b3
    ("competitions", "top_n"): 10,  # eeb8a94e95b3
    ("attempts", "elder"): False,  # b70e9055d1c3
    ("events", "elder_default"): False,  # b70e9055d1c3
}


# --- the dataset ------------------------------------------------------------------------

T0 = datetime(2026, 9, 1, 0, 30)  # 08:30 in Beijing; stored as naive UTC
DAY = 24 * 60
QTYPES = ("single", "multiple", "judge")
CATEGORIES = ("计量", "标准化", "认证认可", "产品质量", "")
PHRASES = ("质量第一", "标准引领", "计量准确", "诚信经营")
NAMES = ("张三", "李四", "王五", "赵六", "欧阳小明", "孙丽", "周杰", "吴敏", "郑洁")
NAMES += ("Alice O'Neil", "陈", "司马相如", "Zoë Müller")


def at(minutes: float, us: int = 0) -> datetime:
    return T0 + timedelta(minutes=minutes, microseconds=us)


def token(*parts: object) -> str:
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()[:22]


def _questions() -> list[dict]:
    rows = []
    for bank_id in (1, 2, 3):
        for i in range(12):
            qid = len(rows) + 1
            qtype = QTYPES[i % 3]
            stem = f"【{bank_id}-{i + 1}】关于“质量月”活动，下列说法正确的是？"
            if qid == 1:  # quotes, newline, backslash, percent, emoji
                stem = "“三包”指包修、包换、包退？\n英文 'the three guarantees' —— 100% \\ 😀"
            if qtype == "judge":
                options, answer = [], "T" if i % 2 == 0 else "F"
            else:
                options = [
                    f"{bank_id}-{i + 1} 选项{k}：{p}" for k, p in zip("ABCD", PHRASES, strict=True)
                ]
                answer = "B" if qtype == "single" else "ACD"
            rows.append(
                {
                    "id": qid,
                    "bank_id": bank_id,
                    "type": qtype,
                    "stem": stem,
                    "options": options,
                    "answer": answer,
                    "explanation": "" if i % 4 == 3 else f"依据《产品质量法》第{i + 10}条。",
                    "category": CATEGORIES[i % len(CATEGORIES)],
                    "difficulty": 1 + i % 3,
                    "source": "" if i % 5 == 4 else "市场监管总局 2025 年题库",
                    "fingerprint": hashlib.sha256(f"{qtype}|{stem}|{options}".encode()).hexdigest(),
                    "is_active": i != 7,
                    "created_at": at(-10 * DAY + qid, us=qid * 1001),
                }
            )
    return rows


def _competitions() -> list[dict]:
    common = {"free_units": False, "mask_names": True, "screen_frozen_at": None}
    return [
        {
            **common,
            "id": 1,
            "organization_id": 1,
            "title": "2026年朝阳区“质量月”知识竞赛",
            "theme": "加强质量支撑 共建质量强国",
            "description": "面向全区企业、学校和社区。\n每人可答两次，取最好成绩。",
            "opens_at": at(0),
            "closes_at": at(29 * DAY + 15 * 60 + 30),
            "time_limit_s": 600,
            "attempts_allowed": 2,
            "reveal": "after_submit",
            "multiple_scoring": "half",
            "question_time_s": None,
            "speed_bonus": False,
            "unit_metric": "participation",
            "top_n": 20,
            "screen_frozen_at": at(29 * DAY + 15 * 60 + 20),
            "elder_time_limit_s": 900,
            "elder_question_time_s": None,
            "certificate_min_score": 60,
            "created_at": at(-6 * DAY, us=500_000),
        },
        {
            **common,
            "id": 2,
            "organization_id": 2,
            "title": "Acme Quality Month Quiz",
            "theme": "",
            "description": "",
            "opens_at": at(DAY),
            "closes_at": None,
            "time_limit_s": 300,
            "attempts_allowed": 1,
            "reveal": "never",
            "free_units": True,
            "mask_names": False,
            "multiple_scoring": "proportional",
            "question_time_s": 20,
            "speed_bonus": True,
            "unit_metric": "total",
            "top_n": 5,
            "elder_time_limit_s": None,
            "elder_question_time_s": 40,
            "certificate_min_score": None,
            "created_at": at(-3 * DAY),
        },
        {
            **common,
            "id": 3,
            "organization_id": 3,
            "title": "社区质量安全知识问答 🏅",
            "theme": "质量强国 · 你我同行",
            "description": "长辈专场，字体放大。",
            "opens_at": at(2 * DAY),
            "closes_at": at(9 * DAY),
            "time_limit_s": 900,
            "attempts_allowed": 1,
            "reveal": "after_close",
            "multiple_scoring": "all",
            "question_time_s": None,
            "speed_bonus": False,
            "unit_metric": "average",
            "top_n": 10,
            "elder_time_limit_s": None,
            "elder_question_time_s": None,
            "certificate_min_score": 10,
            "created_at": at(-DAY, us=999_999),
        },
    ]


def _attempt_item(rng, attempt_id, position, rule, question, started, comp, choose):
    qtype = question["type"]
    if qtype == "judge":
        order, options, key = "", [], question["answer"]
    else:
        order = "".join(rng.sample("ABCD", 4))
        options = [question["options"][ord(c) - 65] for c in order]
        key = "".join(sorted("ABCD"[order.index(a)] for a in question["answer"]))
    choice = choose(qtype, key)
    paced = comp["question_time_s"] is not None
    return {
        "attempt_id": attempt_id,
        "position": position,
        "question_id": question["id"],
        "qtype": qtype,
        "stem": question["stem"],
        "options": options,
        "option_order": order,
        "key": key,
        "points": rule["points"],
        "explanation": question["explanation"],
        "choice": choice,
        "answered_at": None if choice is None else started + timedelta(seconds=15 * position + 7),
        "opened_at": started + timedelta(seconds=20 * (position - 1)) if paced else None,
        "awarded": None,
    }


def _play(d: dict[str, list[dict]], rng: random.Random) -> None:
    """Participants, their attempts and items, consistent with the competitions' rules."""
    participants, attempts, items = [], [], []
    people = {1: 10, 2: 6, 3: 4}
    for comp in d["competitions"]:
        cid = comp["id"]
        units = [u["id"] for u in d["competition_units"] if u["competition_id"] == cid]
        events = [e["id"] for e in d["events"] if e["competition_id"] == cid]
        banks = {b["bank_id"] for b in d["competition_banks"] if b["competition_id"] == cid}
        rules = [r for r in d["draw_rules"] if r["competition_id"] == cid]
        for n in range(people[cid]):
            pid = len(participants) + 1
            participants.append(
                {
                    "id": pid,
                    "competition_id": cid,
                    "name": NAMES[(pid * 5) % len(NAMES)],
                    "phone": f"1{3 + pid % 6}{pid:09d}",
                    "unit_id": (units + [None])[n % (len(units) + 1)],
                    "created_at": at(cid * DAY + n * 7, us=rng.randrange(1_000_000)),
                }
            )
            last = n == people[cid] - 1
            numbers = 2 if n % 3 == 0 and comp["attempts_allowed"] > 1 else 1
            for number in range(1, numbers + 1):
                aid = len(attempts) + 1
                status = "submitted"
                if last:
                    status = "active"
                elif n % 4 == 2 and number == numbers:
                    status = "expired"
                event_id = (events + [None])[(n + number) % (len(events) + 1)]
                elder = event_id in (2, 4) or n == 5
                limit = comp["time_limit_s"]
                if elder and comp["elder_time_limit_s"]:
                    limit = comp["elder_time_limit_s"]
                started = at(cid * DAY + n * 7 + number * 20, us=rng.randrange(1_000_000))
                deadline = started + timedelta(seconds=limit)

                def choose(qtype, key, status=status, n=n):
                    if status == "active":
                        return key if rng.random() < 0.3 else None
                    if n == 1:  # one perfect score per competition
                        return key
                    r = rng.random()
                    if r < 0.6:
                        return key
                    if r < 0.9:
                        if qtype == "judge":
                            return "F" if key == "T" else "T"
                        return "A" if key != "A" else "B"
                    return None

                position = 0
                own = []
                for rule in rules:
                    pool = [
                        q
                        for q in d["questions"]
                        if q["bank_id"] in banks and q["type"] == rule["qtype"]
                    ]
                    for q in rng.sample(pool, rule["count"]):
                        position += 1
                        own.append(
                            _attempt_item(rng, aid, position, rule, q, started, comp, choose)
                        )
                if status != "active":
                    for item in own:
                        item["awarded"] = item["points"] if item["choice"] == item["key"] else 0
                if cid == 3 and n == 0:  # the bank's question was deleted since
                    own[0]["question_id"] = None
                if status == "submitted":
                    used = rng.randrange(60_000, (limit - 10) * 1000)
                    finished = started + timedelta(milliseconds=used, microseconds=123)
                elif status == "expired":
                    finished = deadline
                else:
                    finished = None
                score = sum(i["awarded"] or 0 for i in own)
                done = finished is not None
                certified = done and (comp["certificate_min_score"] or 10**9) <= score
                attempts.append(
                    {
                        "id": aid,
                        "token": token("attempt", aid),
                        "participant_id": pid,
                        "competition_id": cid,
                        "event_id": event_id,
                        "number": number,
                        "status": status,
                        "seed": rng.getrandbits(62),
                        "started_at": started,
                        "deadline_at": deadline,
                        "finished_at": finished,
                        "score": score,
                        "max_score": sum(i["points"] for i in own) if done else 0,
                        "correct_count": sum(i["choice"] == i["key"] for i in own) if done else 0,
                        "duration_ms": (
                            round((finished - started).total_seconds() * 1000) if done else None
                        ),
                        "focus_losses": rng.choice((0, 0, 0, 1, 3)),
                        "elder": elder,
                        "certificate_token": token("certificate", aid) if certified else None,
                    }
                )
                items.extend(own)
    for item_id, item in enumerate(items, start=1):
        item["id"] = item_id
    d["participants"], d["attempts"], d["attempt_items"] = participants, attempts, items


def build_dataset() -> dict[str, list[dict]]:
    """Every table of the models, with a value for every column, keyed by table name."""
    rng = random.Random(20260901)
    d: dict[str, list[dict]] = {}
    d["organizations"] = [
        {"id": 1, "name": "北京市朝阳区市场监督管理局", "created_at": at(-20 * DAY, 123_456)},
        {"id": 2, "name": "Acme Quality Co., Ltd.", "created_at": at(-19 * DAY)},
        {"id": 3, "name": "上海市质量协会「质量月」🏅", "created_at": at(-18 * DAY, 1)},
    ]
    d["users"] = [
        {
            "id": uid,
            "email": email,
            "password_hash": f"scrypt:32768:8:1${token('salt', uid)}$"
            + hashlib.sha512(email.encode()).hexdigest(),
            "organization_id": org,
            "is_admin": admin,
            "session_version": version,
            "created_at": at(-17 * DAY + uid, us=uid * 7),
        }
        for uid, email, org, admin, version in (
            (1, "admin@quiz.example.cn", 1, True, 3),
            (2, "organiser@chaoyang.gov.cn", 1, False, 1),
            (3, "qa.lead@acme.example", 2, False, 7),
            (4, "zhang.wei@sh-quality.org.cn", 3, False, 1),
        )
    ]
    d["question_banks"] = [
        {"id": 1, "name": "质量月通用题库", "organization_id": None, "created_at": at(-15 * DAY)},
        {"id": 2, "name": "朝阳区计量知识", "organization_id": 1, "created_at": at(-14 * DAY)},
        {
            "id": 3,
            "name": "Acme ISO 9001 内审员",
            "organization_id": 2,
            "created_at": at(-13 * DAY),
        },
    ]
    d["questions"] = _questions()
    d["competitions"] = _competitions()
    d["competition_banks"] = [
        {"competition_id": c, "bank_id": b} for c, b in ((1, 1), (1, 2), (2, 1), (2, 3), (3, 1))
    ]
    d["competition_units"] = [
        {"id": i, "competition_id": c, "name": name, "headcount": headcount}
        for i, (c, name, headcount) in enumerate(
            (
                (1, "东城区", 120),
                (1, "西城区", None),
                (1, "朝阳区", 300),
                (1, "朝阳区市场监管局·综合执法大队", 45),
                (2, "Production", None),
                (2, "QA Lab", 12),
                (3, "和平里社区", 80),
                (3, "安贞街道", None),
            ),
            start=1,
        )
    ]
    d["draw_rules"] = [
        {"id": i, "competition_id": c, "qtype": t, "count": n, "points": p}
        | {"category": category, "difficulty": difficulty}
        for i, (c, t, n, p, category, difficulty) in enumerate(
            (
                (1, "single", 3, 5, None, None),
                (1, "multiple", 3, 10, "计量", 2),
                (1, "judge", 2, 5, None, None),
                (2, "single", 4, 10, None, None),
                (2, "judge", 2, 0, None, 1),
                (3, "single", 2, 5, "标准化", None),
                (3, "multiple", 1, 10, None, 3),
            ),
            start=1,
        )
    ]
    d["draw_rule_banks"] = [
        {"draw_rule_id": r, "bank_id": b} for r, b in ((2, 2), (4, 1), (4, 3), (6, 1))
    ]
    d["events"] = [
        {
            "id": i,
            "competition_id": c,
            "name": name,
            "venue": venue,
            "elder_default": elder,
            "join_token": token("join", i),
            "screen_token": token("screen", i),
            "created_at": at(-2 * DAY + i, us=i * 31),
        }
        for i, (c, name, venue, elder) in enumerate(
            (
                (1, "主会场", "朝阳区政务服务中心一层大厅", False),
                (1, "社区分会场（长辈专场）", "", True),
                (2, "Plant A canteen", "Building 3, 2F", False),
                (3, "社区活动室", "安贞里 12 号楼", True),
            ),
            start=1,
        )
    ]
    d["pending_imports"] = [
        {
            "id": 1,
            "token": token("import", 1),
            "user_id": 2,
            "bank_name": "朝阳区计量知识",
            "filename": "计量题库（第二批）.csv",
            "data": "题型,题干,选项A,答案\r\n单选,法定计量单位是？,米,A\r\n".encode("gb18030"),
            "created_at": at(-DAY, us=42),
        },
        {
            "id": 2,
            "token": token("import", 2),
            "user_id": 3,
            "bank_name": "Acme ISO 9001 内审员",
            "filename": "iso9001.xlsx",
            "data": b"PK\x03\x04" + bytes(range(256)) * 4,
            "created_at": at(-DAY + 5),
        },
    ]
    d["screen_reveals"] = [
        {"competition_id": 1, "revealed_at": at(29 * DAY + 16 * 60, us=250_000)},
        {"competition_id": 3, "revealed_at": at(9 * DAY + 1)},
    ]
    _play(d, rng)
    return d


DATASET = build_dataset()


# --- filling and reading ----------------------------------------------------------------


def fill(conn, dataset: dict[str, list[dict]]) -> dict[str, list[str]]:
    """Insert the dataset into the schema as it is now (reflected): its tables, its
    columns. Returns that schema, {table: [columns]}."""
    reflected = MetaData()
    reflected.reflect(conn)
    schema = {}
    for model_table in db.metadata.sorted_tables:  # foreign key order
        table = reflected.tables.get(model_table.name)
        if table is None:
            continue
        columns = [c.name for c in table.columns]
        rows = dataset[table.name]
        missing = set(columns) - set(rows[0])
        assert not missing, f"the dataset has no value for {table.name}.{sorted(missing)}"
        conn.execute(table.insert(), [{c: row[c] for c in columns} for row in rows])
        schema[table.name] = columns
    unfilled = set(reflected.tables) - set(schema) - {"alembic_version"}
    assert not unfilled, f"tables the dataset does not fill: {sorted(unfilled)}"
    if conn.dialect.name == "postgresql":
        # As if the app had written the rows: the id sequences are past them.
        for name, columns in schema.items():
            if "id" in columns:
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), max(id)) FROM {name}"
                    )
                )
    return schema


def raw(value: object) -> object:
    """A stored value as the driver returns it, in a JSON-able form that tells types apart."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float | Decimal):
        return f"{type(value).__name__}:{value!r}"
    if isinstance(value, datetime | date | time):
        return f"{type(value).__name__}:{value.isoformat()}"
    if isinstance(value, bytes | bytearray | memoryview):
        return "bytes:" + bytes(value).hex()
    if isinstance(value, dict | list):
        return "json:" + json.dumps(value, sort_keys=True, ensure_ascii=False)
    return f"{type(value).__name__}:{value!r}"


@dataclass
class Table:
    columns: list[str]
    rows: list[dict[str, object]]

    def checksum(self, columns: list[str]) -> str:
        values = [[row[c] for c in columns] for row in self.rows]
        return hashlib.sha256(json.dumps(values, ensure_ascii=False).encode()).hexdigest()


def snapshot() -> dict[str, Table]:
    """Every table's rows, ordered by primary key, as stored (the driver's values)."""
    tables = {}
    with db.engine.connect() as conn:
        inspector = inspect(conn)
        quote = conn.dialect.identifier_preparer.quote
        for name in inspector.get_table_names():
            if name == "alembic_version":
                continue
            columns = [c["name"] for c in inspector.get_columns(name)]
            key = inspector.get_pk_constraint(name)["constrained_columns"] or columns
            sql = "SELECT {} FROM {} ORDER BY {}".format(
                ", ".join(map(quote, columns)), quote(name), ", ".join(map(quote, key))
            )
            rows = [
                {c: raw(v) for c, v in zip(columns, row, strict=True)}
                for row in conn.exec_driver_sql(sql)
            ]
            tables[name] = Table(columns, rows)
    return tables


def assert_kept(before: dict[str, Table], after: dict[str, Table], step: str, *, all_kept: bool):
    """Each table of ``before`` still in ``after`` has the same rows over the columns
    both have. ``all_kept``: no table or column may have gone."""
    compared = 0
    for name, old in before.items():
        new = after.get(name)
        if new is None:
            assert not all_kept, f"{step}: table {name} is gone"
            continue
        columns = [c for c in old.columns if c in new.columns]
        if all_kept:
            assert columns == old.columns, f"{step}: {name} lost {set(old.columns) - set(columns)}"
        assert len(new.rows) == len(old.rows), (
            f"{step}: {name} had {len(old.rows)} rows, now {len(new.rows)}"
        )
        if new.checksum(columns) != old.checksum(columns):
            changed = [
                (
                    {c: o[c] for c in columns if o[c] != n[c]},
                    {c: n[c] for c in columns if o[c] != n[c]},
                )
                for o, n in zip(old.rows, new.rows, strict=True)
                if any(o[c] != n[c] for c in columns)
            ]
            pytest.fail(f"{step}: {name} changed in {len(changed)} rows, e.g. {changed[:3]}")
        compared += len(columns) * len(old.rows)
    assert compared, f"{step}: nothing was compared"


def semantic(value: object) -> object:
    """A value as the app sees it, comparable across backends (aware times as naive UTC)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    return value


def assert_matches_dataset(dataset: dict[str, list[dict]], schema: dict[str, list[str]]):
    """Read through the models' tables: the rows written at a revision whose schema was
    ``schema``, with the backfill in every column added since; tables added since empty."""
    for table in db.metadata.sorted_tables:
        key = [c.name for c in table.primary_key.columns]
        rows = db.session.execute(select(table).order_by(*table.primary_key.columns)).mappings()
        actual = [{c: semantic(v) for c, v in row.items()} for row in rows]
        if table.name not in schema:
            assert actual == [], f"{table.name} did not exist yet, yet has rows"
            continue
        expected = []
        for row in sorted(dataset[table.name], key=lambda r: [r[c] for c in key]):
            values = {}
            for column in table.columns:
                if column.name in schema[table.name]:
                    values[column.name] = row[column.name]
                elif (table.name, column.name) in BACKFILL:
                    values[column.name] = BACKFILL[table.name, column.name]
                else:
                    assert column.nullable, (
                        f"{table.name}.{column.name} was added NOT NULL: write down the value "
                        "existing rows get in BACKFILL"
                    )
                    values[column.name] = None
            expected.append(values)
        assert len(actual) == len(expected), table.name
        for want, got in zip(expected, actual, strict=True):
            assert got == want, f"{table.name} row {[want[c] for c in key]}"


def as_written(dataset, schema) -> dict[str, list[dict]]:
    """The dataset's rows as they are after the upgrade (backfilled columns included)."""
    result = {}
    for table in db.metadata.sorted_tables:
        if table.name not in schema:
            result[table.name] = []
            continue
        result[table.name] = [
            {
                c.name: row[c.name]
                if c.name in schema[table.name]
                else BACKFILL.get((table.name, c.name))
                for c in table.columns
            }
            for row in dataset[table.name]
        ]
    return result


def assert_app_works(dataset, schema):
    """The app on the upgraded data: every model loads with its relationships; rankings,
    counts, results and summaries agree with the data; it takes new writes."""
    from quizapp.competitions.models import Competition
    from quizapp.competitions.services import create_event
    from quizapp.leaderboards.services import counts, rank_of, top_individuals, unit_ranking
    from quizapp.play.models import Attempt
    from quizapp.play.services import submit
    from quizapp.reports.certificates import issue_token
    from quizapp.reports.services import attempt_detail, results
    from quizapp.reports.summary import activity_summary

    data = as_written(dataset, schema)
    for mapper in db.Model.registry.mappers:
        objects = db.session.scalars(select(mapper.class_)).all()
        assert len(objects) == len(data[mapper.local_table.name]), mapper.class_.__name__

    unit_of = {p["id"]: p["unit_id"] for p in data["participants"]}
    for row in data["competitions"]:
        comp = db.session.get(Competition, row["id"])
        assert [b.id for b in comp.banks] == sorted(
            b["bank_id"] for b in data["competition_banks"] if b["competition_id"] == comp.id
        )
        for rule in comp.rules:
            own = sorted(
                b["bank_id"] for b in data["draw_rule_banks"] if b["draw_rule_id"] == rule.id
            )
            assert rule.bank_ids() == (own or [b.id for b in comp.banks])
        attempts = [a for a in data["attempts"] if a["competition_id"] == comp.id]
        done = [a for a in attempts if a["status"] != "active"]
        ranked = sorted(
            done, key=lambda a: (-a["score"], a["duration_ms"], a["finished_at"], a["id"])
        )
        best: dict[int, int] = {}
        for a in ranked:
            best.setdefault(a["participant_id"], a["id"])
        assert [p.attempt_id for p in top_individuals(comp.id, limit=100)] == list(best.values())
        assert counts(comp.id) == (len({a["participant_id"] for a in attempts}), len(best))
        for unit in unit_ranking(comp.id):
            assert unit.participants == sum(unit_of[p] == unit.unit_id for p in best), unit.name
        assert len(results(comp.id, limit=None)) == len(attempts)
        summary = activity_summary(comp)
        assert summary is not None
        for a in done[:2]:
            attempt = attempt_detail(comp.id, a["id"])
            assert [i.position for i in attempt.items] == list(range(1, len(attempt.items) + 1))
            assert rank_of(attempt) is not None

    active = next(a for a in data["attempts"] if a["status"] == "active")
    attempt = submit(
        active["token"], now=active["started_at"].replace(tzinfo=UTC) + timedelta(minutes=1)
    )
    assert attempt.status == "submitted"
    assert attempt.score == sum(i.awarded for i in attempt.items)
    assert attempt.max_score == sum(i.points for i in attempt.items)
    event = create_event(active["competition_id"], "新增会场", "礼堂")
    assert event.id > max(e["id"] for e in data["events"])
    uncertified = db.session.scalar(
        select(Attempt.id).where(Attempt.status != "active", Attempt.certificate_token.is_(None))
    )
    assert issue_token(uncertified)


def schema_diff():
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def assert_foreign_keys_enforced():
    """SQLite: migrations run with foreign keys off (migrations/env.py); the pooled
    connection they used must enforce them again."""
    if db.engine.dialect.name == "sqlite":
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def current_revision() -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture
def fresh_database_url(tmp_path):
    """A fresh, empty database: a SQLite file, or a new PostgreSQL database dropped after."""
    if POSTGRES:
        url, drop = _postgres_database()
        yield url
        drop()
    else:
        yield f"sqlite:///{tmp_path / 'migrated.sqlite3'}"


@pytest.fixture
def empty_app(fresh_database_url):
    app = create_app(
        {"TESTING": True, "SECRET_KEY": "t", "SQLALCHEMY_DATABASE_URI": fresh_database_url}
    )
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


# --- tests ----------------------------------------------------------------------------------


def test_one_linear_chain_with_a_single_head():
    assert SCRIPT.get_heads() == [HEAD]
    assert SCRIPT.get_bases() == [REVISIONS[0]]
    for revision in REVISIONS:
        script = SCRIPT.get_revision(revision)
        assert not isinstance(script.down_revision, tuple | list), f"{revision} merges"
        assert len(script.nextrev) <= 1, f"{revision} branches"
    files = sorted((MIGRATIONS / "versions").glob("*.py"))
    assert len(files) == len(REVISIONS)
    assert len(REVISIONS) >= 2


def test_dataset_covers_every_table_and_column():
    for table in db.metadata.sorted_tables:
        rows = DATASET[table.name]
        assert len(rows) >= 2, table.name
        for row in rows:
            assert set(row) == {c.name for c in table.columns}, table.name
    # What the checks rely on being present in the data.
    items = DATASET["attempt_items"]
    assert {a["status"] for a in DATASET["attempts"]} == {"active", "submitted", "expired"}
    assert any(a["event_id"] is None for a in DATASET["attempts"])
    assert any(a["certificate_token"] for a in DATASET["attempts"])
    assert any(i["choice"] is None for i in items) and any(i["opened_at"] for i in items)
    assert any(i["question_id"] is None for i in items)


@pytest.mark.parametrize("revision", REVISIONS[:-1])
def test_data_written_at_a_revision_survives_the_upgrade_to_head(empty_app, revision):
    upgrade(revision=revision)
    with db.engine.begin() as conn:
        schema = fill(conn, DATASET)
    before = snapshot()
    assert {name: len(t.rows) for name, t in before.items()} == {
        name: len(DATASET[name]) for name in schema
    }

    upgrade()

    assert current_revision() == HEAD
    assert_foreign_keys_enforced()
    after = snapshot()
    assert_kept(before, after, f"{revision} -> head", all_kept=True)
    assert schema_diff() == []
    assert_matches_dataset(DATASET, schema)
    assert_app_works(DATASET, schema)


def test_downgrade_and_upgrade_step_by_step_keep_data(empty_app):
    upgrade()
    with db.engine.begin() as conn:
        fill(conn, DATASET)
    previous = at_head = snapshot()
    for revision in reversed(REVISIONS[:-1]):
        downgrade(revision=revision)
        assert current_revision() == revision
        current = snapshot()
        assert_kept(previous, current, f"downgrade to {revision}", all_kept=False)
        previous = current
    initial = {name: t.columns for name, t in previous.items()}
    assert "attempt_items" in initial and set(initial) < set(at_head)

    for revision in REVISIONS[1:]:
        upgrade(revision=revision)
        current = snapshot()
        assert_kept(previous, current, f"upgrade to {revision}", all_kept=True)
        previous = current

    assert current_revision() == HEAD
    assert_foreign_keys_enforced()
    assert schema_diff() == []
    # As if the dataset had been written at the initial revision and upgraded.
    assert_matches_dataset(DATASET, initial)
    assert_app_works(DATASET, initial)
