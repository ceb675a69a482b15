"""``flask bank load|import|list|export``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from quizapp.auth.services import find_organization
from quizapp.banks import services
from quizapp.banks.spreadsheet import write_csv, write_xlsx
from quizapp.errors import DomainError

bank_cli = AppGroup("bank", help="Manage question banks.")


def _print_rejection(err: services.ImportRejected) -> None:
    for e in err.errors:
        column = f", {e.column}" if e.column else ""
        click.echo(f"row {e.row}{column}: {e.message}", err=True)
    click.echo(f"Error: {err.message}; nothing was added.", err=True)


@bank_cli.command("load")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--bank", "bank_name", default=services.STARTER_BANK_NAME, show_default=True)
def load(directory: Path | None, bank_name: str) -> None:
    """Load the curated bank (default: question_bank/). Running it twice adds nothing."""
    directory = directory or Path(current_app.root_path).parent / "question_bank"
    if not directory.is_dir():
        raise click.ClickException(f"no such directory: {directory}")
    try:
        report = services.load_directory(directory, bank_name)
    except services.ImportRejected as err:
        _print_rejection(err)
        sys.exit(1)
    click.echo(
        f"Loaded {len(report.files)} file(s) into {bank_name!r}: "
        f"{report.added} added, {report.skipped_duplicates} already present."
    )


@bank_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--bank", "bank_name", required=True, help="Bank name (created if new).")
@click.option("--org", default=None, help="Owning organization (default: shared bank).")
def import_(file: Path, bank_name: str, org: str | None) -> None:
    """Import a .xlsx or .csv file; all or nothing."""
    try:
        organization = find_organization(org) if org else None
        report = services.import_file(
            file.read_bytes(),
            file.name,
            bank_name,
            organization,
            max_rows=current_app.config["IMPORT_MAX_ROWS"],
        )
    except services.ImportRejected as err:
        _print_rejection(err)
        sys.exit(1)
    except DomainError as err:
        raise click.ClickException(err.message) from err
    click.echo(
        f"Added {report.added} question(s) to {bank_name!r}"
        f" ({report.skipped_duplicates} duplicate(s) skipped)."
    )


@bank_cli.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_(as_json: bool) -> None:
    """List banks with their question counts."""
    banks = services.list_banks(everything=True)
    if as_json:
        payload = [{k: b[k] for k in ("name", "questions", "organization")} for b in banks]
        click.echo(json.dumps({"banks": payload}, ensure_ascii=False))
        return
    for b in banks:
        click.echo(f"{b['name']}\t{b['questions']}\t{b['organization'] or '(shared)'}")


@bank_cli.command("export")
@click.option("--bank", "bank_name", required=True)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def export(bank_name: str, file: Path) -> None:
    """Write a bank to .xlsx or .csv in the importer's layout."""
    suffix = file.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise click.ClickException("the file name must end in .csv or .xlsx")
    try:
        bank = services.get_bank(bank_name)
    except DomainError as err:
        raise click.ClickException(err.message) from err
    questions = services.bank_questions(bank)
    with file.open("wb") as fh:
        (write_csv if suffix == ".csv" else write_xlsx)(questions, fh)
    click.echo(f"Wrote {len(questions)} question(s) to {file}.")
