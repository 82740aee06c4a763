"""`vardlinje catalog …` on a real database: the demo catalog loads for all 21 regions, the CLI answers "which
units fit urgency X, open at T, nearest to P", a broken file imports nothing and says why, export → import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic import command
from click.testing import CliRunner
from sqlalchemy import inspect

from catalog import store
from catalog.municipalities import load as municipalities
from vardlinje.cli import main
from vardlinje.db import Database, make_engine
from vardlinje.migrate import alembic_config


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.delenv("VARDLINJE_SETTINGS_FILE", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VARDLINJE_DATABASE_URL", db_url)
    return CliRunner()


def test_demo_catalog_search_export_and_import(cli: CliRunner, database: Database, tmp_path: Path) -> None:
    """The demo loads in every region; 'akut, open at Friday 02:00, nearest Kiruna' gives emergency departments
    open then, nearest first, the first in Norrbotten; 'timmar within 2 h of Saturday 06:00 near Göteborg' gives
    units open or opening by 08:00; export → import changes nothing; a broken CSV imports nothing."""
    loaded = cli.invoke(main, ["catalog", "demo"])
    assert loaded.exit_code == 0, loaded.output
    counts = database.run_sync(store.count_by_region)
    assert len(counts) == 21 and sum(counts.values()) > 1000

    found = cli.invoke(main, ["catalog", "search", "--urgency", "akut", "--open-at", "2026-11-27T02:00",
                              "--municipality", "Kiruna", "--limit", "5", "--json"])
    assert found.exit_code == 0, found.output
    hits = json.loads(found.output)
    assert hits and all(h["open"] for h in hits)
    assert hits[0]["region"] == "25" and hits == sorted(hits, key=lambda h: (h["fit"], h["distance_km"]))
    kiruna = municipalities().by_name("Kiruna")
    assert kiruna is not None and hits[0]["distance_km"] < 200

    soon = cli.invoke(main, ["catalog", "search", "--urgency", "timmar", "--open-at", "2026-11-28T06:00",
                             "--within", "2", "--municipality", "Göteborg", "--json"])
    for h in json.loads(soon.output):
        assert h["open"] or h["opens_at"] <= "2026-11-28T08:00:00+01:00", h

    out = tmp_path / "25.csv"
    assert cli.invoke(main, ["catalog", "export", "--format", "csv", "--region", "25", "-o", str(out)]).exit_code == 0
    again = cli.invoke(main, ["catalog", "import", str(out)])
    assert again.exit_code == 0 and " 0 new" in again.output, again.output
    broken = tmp_path / "broken.csv"
    lines = out.read_text(encoding="utf-8-sig").splitlines()
    lines[2] = lines[2].replace(";25;", ";99;", 1)
    broken.write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = database.run_sync(store.count_by_region)
    refused = cli.invoke(main, ["catalog", "import", str(broken)])
    assert refused.exit_code == 1 and "row 3, column region" in refused.output, refused.output
    assert database.run_sync(store.count_by_region) == before

    bad = cli.invoke(main, ["catalog", "search", "--municipality", "Atlantis"])
    assert bad.exit_code == 2 and "Atlantis" in bad.output


def test_migration_0008_downgrades_and_upgrades(db_url: str) -> None:
    """Down to 0007 drops care_unit; up again restores it."""
    command.downgrade(alembic_config(db_url), "0007")
    engine = make_engine(db_url)
    assert "care_unit" not in inspect(engine).get_table_names()
    command.upgrade(alembic_config(db_url), "head")
    assert "care_unit" in inspect(engine).get_table_names()
    engine.dispose()
