"""The journal's edges outside the API: the region's phase configuration, the citizen settings and key file,
the audit CLI, and migration 0007 (down and up, with its immutability triggers)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from click.testing import CliRunner
from sqlalchemy import inspect, text
from sqlmodel import Session, select

from config.loader import load_config
from journal import service
from journal.citizen import CitizenTokenError
from journal.models import JournalAccess
from journal.policy import Purpose
from vardlinje.app import citizen_config
from vardlinje.cli import main
from vardlinje.db import Database, make_engine
from vardlinje.migrate import alembic_config
from vardlinje.settings import Settings, SettingsError, load_settings

from ..config.conftest import cfg, edit, find, issues_of  # noqa: F401
from ..identity.conftest import T0
from .conftest import PATIENT, Client, World, build_world
from .test_journal_api import _as, _signed_note


def test_a_region_can_configure_its_phases_and_gets_the_default_otherwise(cfg: Path) -> None:  # noqa: F811
    """No `call_phases`: the five default phases. A region's own list is used in its order; a phase listed
    twice is an error at the field, naming the id."""
    assert [p.id for p in load_config(cfg).regions["01"].call_phases] == [
        "inledning", "kartlaggning", "bedomning", "rad", "avslut"]
    edit(cfg / "regions" / "03.yaml", lambda d: d.update(call_phases=[
        {"id": "inledning", "name": "Inledning"}, {"id": "bedomning", "name": "Bedömning", "hint": "RETTS"}]))
    assert [p.name for p in load_config(cfg).regions["03"].call_phases] == ["Inledning", "Bedömning"]
    edit(cfg / "regions" / "03.yaml", lambda d: d.update(call_phases=[
        {"id": "avslut", "name": "Avslut"}, {"id": "avslut", "name": "Slut"}]))
    find(issues_of(cfg), "cfg/regions/03.yaml", "call_phases", "avslut")


def test_citizen_settings_need_a_key_and_a_bad_key_file_is_named(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """An issuer without a key file is a settings error; a key file that is not a public key stops the start
    with the file named; without an issuer citizen access is simply off."""
    with pytest.raises(ValueError, match="public_key_file"):
        Settings(citizen={"issuer": "https://idp.example"})  # type: ignore[arg-type]
    assert citizen_config(Settings()) is None
    bad = tmp_path / "idp.pem"
    bad.write_text("inte en nyckel\n")
    settings = Settings(citizen={"issuer": "https://idp.example", "public_key_file": bad})  # type: ignore[arg-type]
    with pytest.raises(CitizenTokenError, match="idp.pem"):
        citizen_config(settings)
    toml = tmp_path / "vardlinje.toml"
    toml.write_text('[citizen]\nissuer = "https://idp.example"\nalgorithms = ["HS256"]\n')
    monkeypatch.setenv("VARDLINJE_SETTINGS_FILE", str(toml))
    with pytest.raises(SettingsError, match=r"vardlinje.toml: citizen.algorithms"):
        load_settings()


async def test_the_audit_cli_lists_accesses_per_patient_and_refuses_bad_input(
        client: Client, world: World, database: Database, db_url: str, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    """`vardlinje journal audit --patient` lists the reads of that patient's notes (table and CSV); a wrong
    personnummer is a clear usage error, not a traceback."""
    h = await _as(client, "anna")
    note = await _signed_note(client, h, world.call_anna)
    assert (await client.get(f"/api/v1/journal/notes/{note['id']}", headers=h)).status == 200
    monkeypatch.delenv("VARDLINJE_SETTINGS_FILE", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VARDLINJE_DATABASE_URL", db_url)
    runner = CliRunner()
    table = runner.invoke(main, ["journal", "audit", "--patient", "19121212-1212"])
    assert table.exit_code == 0, table.output
    assert "care" in table.output and "anna" in table.output and note["id"] in table.output
    as_csv = runner.invoke(main, ["journal", "audit", "--user", "anna", "--csv"])
    logged = database.run_sync(lambda s: len(s.exec(select(JournalAccess)).all()))
    assert as_csv.exit_code == 0 and as_csv.output.splitlines()[0].startswith("at;note_id;patient_id")
    assert len(as_csv.output.splitlines()) == 1 + logged
    wrong = runner.invoke(main, ["journal", "audit", "--patient", "19121212-1213"])
    assert wrong.exit_code == 2 and "Kontrollsiffran" in wrong.output and "Traceback" not in wrong.output


def test_migration_0007_downgrades_and_upgrades_with_its_triggers(db_url: str, database: Database) -> None:
    """Down to 0006 removes the journal tables and triggers; up again restores them, and the database again
    refuses to change a signed note, a version or the access log."""
    command.downgrade(alembic_config(db_url), "0006")
    engine = make_engine(db_url)
    assert "journal_note" not in inspect(engine).get_table_names()
    command.upgrade(alembic_config(db_url), "head")
    world = build_world(database)

    def signed(s: Session) -> str:
        note, _ = service.open_note(s, world.call_anna, world.anna, T0)
        note, _ = service.save(s, note.id, world.anna, 1, {"caller_relation": "själv", "patient_id_kind":
                               "personnummer", "patient_id": PATIENT, "urgency": "dagar", "text": "Hosta."}, T0,
                               today=T0.date())
        service.sign(s, note.id, world.anna, note.revision, T0, today=T0.date())
        service.log_read(s, note, service.Actor("staff", world.anna, world.east), Purpose.CARE, T0)
        return note.id

    note_id = database.run_sync(signed)
    for sql in ("UPDATE journal_note SET content = '{}' WHERE id = :i", "DELETE FROM journal_note WHERE id = :i",
                "UPDATE journal_note_version SET content = '{}' WHERE note_id = :i",
                "DELETE FROM journal_access WHERE note_id = :i"):
        with pytest.raises(Exception, match="immutable|never deleted|append-only"), engine.begin() as conn:
            conn.execute(text(sql), {"i": note_id})
    engine.dispose()
