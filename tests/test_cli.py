"""Commands of shared/API.md, through Flask's CLI runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def loaded(runner):
    result = runner.invoke(args=["bank", "load"])
    assert result.exit_code == 0, result.output
    return result


def test_bank_load_is_idempotent_and_listed(runner, loaded):
    listing = json.loads(runner.invoke(args=["bank", "list", "--json"]).output)
    count = listing["banks"][0]["questions"]
    assert listing["banks"][0]["name"] == "质量月题库" and count >= 300
    again = runner.invoke(args=["bank", "load"])
    assert "0 added" in again.output
    assert json.loads(runner.invoke(args=["bank", "list", "--json"]).output) == listing


def test_bank_import_rejects_bad_rows_and_changes_nothing(runner, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "题型,题干,选项A,选项B,答案\n单选,好问题,甲,乙,A\n单选,坏问题,甲,乙,Q\n", encoding="utf-8"
    )
    result = runner.invoke(args=["bank", "import", str(bad), "--bank", "导入"])
    assert result.exit_code == 1 and "row 3" in result.output
    assert json.loads(runner.invoke(args=["bank", "list", "--json"]).output)["banks"] == []
    good = tmp_path / "good.csv"
    good.write_bytes("题型,题干,选项A,选项B,答案\n单选,好问题,甲,乙,A\n".encode("gb18030"))
    result = runner.invoke(args=["bank", "import", str(good), "--bank", "导入"])
    assert result.exit_code == 0 and "Added 1" in result.output
    result = runner.invoke(args=["bank", "import", str(good), "--bank", "导入"])
    assert "Added 0" in result.output


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_bank_export_round_trip(runner, loaded, tmp_path, suffix):
    out = tmp_path / f"bank{suffix}"
    assert runner.invoke(args=["bank", "export", "--bank", "质量月题库", str(out)]).exit_code == 0
    result = runner.invoke(args=["bank", "import", str(out), "--bank", "副本"])
    assert result.exit_code == 0, result.output
    banks = {
        b["name"]: b["questions"]
        for b in json.loads(runner.invoke(args=["bank", "list", "--json"]).output)["banks"]
    }
    assert banks["副本"] == banks["质量月题库"]


def test_user_competition_event_and_demo(runner, loaded, tmp_path):
    assert (
        runner.invoke(
            args=["user", "create", "a@b.cn", "--org", "市局", "--password", "long-enough-pw"]
        ).exit_code
        == 0
    )
    dup = runner.invoke(
        args=["user", "create", "a@b.cn", "--org", "市局", "--password", "long-enough-pw"]
    )
    assert dup.exit_code != 0 and "already exists" in dup.output
    units = tmp_path / "units.csv"
    units.write_text(
        (ROOT / "quizapp/data/units-beijing-districts.csv").read_text("utf-8"), encoding="utf-8"
    )
    result = runner.invoke(
        args=[
            "competition",
            "create",
            "--org",
            "市局",
            "--title",
            "竞赛",
            "--draw",
            "single=5,judge=5",
            "--units",
            str(units),
            "--time-limit",
            "300",
            "--json",
        ]
    )
    comp = json.loads(result.output)
    assert comp["question_count"] == 10 and len(comp["units"]) == 17
    bad = runner.invoke(
        args=["competition", "create", "--org", "市局", "--title", "x", "--draw", "single=100000"]
    )
    assert bad.exit_code != 0
    event = json.loads(
        runner.invoke(args=["event", "create", str(comp["id"]), "--name", "现场", "--json"]).output
    )
    assert set(event) >= {
        "id",
        "competition_id",
        "join_token",
        "screen_token",
        "join_url",
        "screen_url",
    }
    assert event["join_url"].endswith(event["join_token"])
    first = json.loads(runner.invoke(args=["demo", "--json"]).output)
    second = json.loads(runner.invoke(args=["demo", "--json"]).output)
    assert first["competition_id"] == second["competition_id"]
    assert first["events"][0]["join_token"] == second["events"][0]["join_token"]
    assert set(second["organizer"]) == {"email", "password"}
    assert runner.invoke(args=["attempts", "close-overdue"]).exit_code == 0


def test_event_create_for_unknown_competition_fails(runner):
    result = runner.invoke(args=["event", "create", "999", "--name", "x"])
    assert result.exit_code != 0 and result.output.startswith("Error: ")
