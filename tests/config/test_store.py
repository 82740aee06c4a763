"""The versioned configuration in the database (SQLite and PostgreSQL): import, propose, rollback,
history, export, and refusals that name the file and the path inside it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from config import store
from config.loader import ConfigError, load_valid_config
from vardlinje.db import Database

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
OLD_WELCOME = "Välkommen till 1177 på telefon i Region Stockholm."
NEW_WELCOME = "Välkommen till 1177 i Region Stockholm, vi svarar dygnet runt."


def seeded(database: Database, directory: Path) -> list[store.ConfigVersion]:
    return database.run_sync(lambda s: store.import_files(s, directory, at=T0))


def text_of(database: Database, owner: str) -> str:
    return database.run_sync(lambda s: store.current(s)[owner].content)


def test_round_trip(database: Database, cfg: Path, tmp_path: Path) -> None:
    """Import seeds every file as version 1 (a second import changes nothing); a change becomes
    version 2 with who, when and comment; rollback makes version 3 with version 1's text; the
    loaded set and the export reflect the current versions, and the export passes `config check`."""
    added = seeded(database, cfg)
    assert len(added) == 22 and {v.version for v in added} == {1} and {v.created_by for v in added} == {"import"}
    assert seeded(database, cfg) == []

    original = text_of(database, "01")
    changed = original.replace(OLD_WELCOME, NEW_WELCOME)
    change = database.run_sync(lambda s: store.propose(s, "01", changed, "rita", "ny hälsning", T0 + timedelta(hours=1)))
    assert change.changed and change.version.version == 2 and change.version.created_by == "rita"

    cs, versions = database.run_sync(store.load_current)
    assert versions["01"] == 2 and versions["03"] == 1 and versions["national"] == 1
    assert cs.regions["01"].menu.nodes["welcome"].prompt.text["sv"] == NEW_WELCOME  # type: ignore[union-attr]

    back = database.run_sync(lambda s: store.rollback(s, "01", 1, "rita", T0 + timedelta(hours=2)))
    assert back.changed and back.version.version == 3 and back.version.content == original
    assert "version 1" in back.version.comment
    rows = database.run_sync(lambda s: store.history(s, "01"))
    assert [(r.version, r.created_by) for r in rows] == [(3, "rita"), (2, "rita"), (1, "import")]
    assert rows[1].comment == "ny hälsning" and rows[1].created_at.replace(tzinfo=UTC) == T0 + timedelta(hours=1)

    # Rolling back to the text that is already current stores nothing.
    same = database.run_sync(lambda s: store.rollback(s, "01", 1, "rita", T0 + timedelta(hours=3)))
    assert not same.changed and same.version.version == 3

    out = tmp_path / "export"
    written = database.run_sync(lambda s: store.export_files(s, out))
    assert len(written) == 22
    assert (out / "regions" / "01.yaml").read_text(encoding="utf-8") == original
    assert (out / "national.yaml").read_text(encoding="utf-8") == (cfg / "national.yaml").read_text(encoding="utf-8")
    assert len(load_valid_config(out).regions) == 21


def test_invalid_proposal_is_refused(database: Database, cfg: Path) -> None:
    """A text that breaks the menu, a duplicate key, and a number already claimed by another region
    are each refused with the file and the path inside it (and the line); nothing is stored."""
    seeded(database, cfg)
    original = text_of(database, "01")

    def refused(owner: str, new_text: str) -> list[tuple[str, str, str]]:
        with pytest.raises(ConfigError) as caught:
            database.run_sync(lambda s: store.propose(s, owner, new_text, "rita", "", T0))
        errors = [i for i in caught.value.issues if i.severity == "error"]
        assert errors and all(i.line is not None for i in errors if i.path)
        return [(i.file, i.path, i.message) for i in errors]

    broken = original.replace("      next: peak\n", "      next: nowhere\n", 1)
    assert ("regions/01.yaml", "menu.nodes.welcome.next", "unknown node 'nowhere'") in [
        (f, p, m.split(" (")[0]) for f, p, m in refused("01", broken)]

    duplicate = original.replace("languages: [sv, en]\n", "languages: [sv, en]\nlanguages: [sv]\n")
    assert any(f == "regions/01.yaml" and p == "languages" and "duplicate key" in m
               for f, p, m in refused("01", duplicate))

    uppsala = text_of(database, "03")
    claims = uppsala.replace("numbers: ['+4618117700']", "numbers: ['+4618117700', '+46846500400']")
    assert any(f == "regions/03.yaml" and p.startswith("numbers") and "already claimed" in m
               for f, p, m in refused("03", claims))

    assert refused("01", "menu: [") and refused("01", "- just a list\n")
    assert [r.version for r in database.run_sync(lambda s: store.history(s, "01"))] == [1]
    assert [r.version for r in database.run_sync(lambda s: store.history(s, "03"))] == [1]


def test_conflict_unknown_version_and_owner(database: Database, cfg: Path) -> None:
    """A change based on an outdated version is a conflict; unknown versions and owners are named."""
    seeded(database, cfg)
    changed = text_of(database, "01").replace(OLD_WELCOME, NEW_WELCOME)
    database.run_sync(lambda s: store.propose(s, "01", changed, "rita", "", T0, base_version=1))
    with pytest.raises(store.VersionConflict, match="since version 1"):
        database.run_sync(lambda s: store.propose(s, "01", changed + "\n", "sven", "", T0, base_version=1))
    with pytest.raises(store.UnknownVersion, match="no version 9"):
        database.run_sync(lambda s: store.rollback(s, "01", 9, "rita", T0))
    with pytest.raises(store.UnknownOwner):
        database.run_sync(lambda s: store.history(s, "99"))


def test_import_of_a_broken_directory_stores_nothing(database: Database, cfg: Path) -> None:
    """The files must pass `config check`: errors name the files on disk, the table stays empty."""
    path = cfg / "regions" / "01.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("      next: peak\n", "      next: nowhere\n", 1),
                    encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        seeded(database, cfg)
    assert any(i.file == "cfg/regions/01.yaml" and i.path == "menu.nodes.welcome.next" for i in caught.value.issues)
    assert database.run_sync(store.current) == {}
    with pytest.raises(ConfigError, match="config import"):
        database.run_sync(store.load_current)


def test_versions_are_append_only(database: Database, cfg: Path) -> None:
    """The database refuses to rewrite or delete a version: history cannot be edited afterwards."""
    seeded(database, cfg)
    for statement in ("UPDATE config_version SET content = 'x'", "DELETE FROM config_version"):
        with Session(database.engine) as s, pytest.raises(DBAPIError, match="append-only"):
            s.execute(text(statement))
    assert len(database.run_sync(store.current)) == 22
