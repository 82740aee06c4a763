"""Fixtures: a copy of the shipped configuration to break, and helpers to edit it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.check import check
from config.loader import ConfigIssue, default_directory, load_config

SHIPPED = default_directory()


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A writable copy of the shipped config directory (national.yaml + regions/); cwd is tmp_path, so
    files show as e.g. `cfg/regions/01.yaml`."""
    target = tmp_path / "cfg"
    target.mkdir()
    shutil.copy(SHIPPED / "national.yaml", target / "national.yaml")
    shutil.copytree(SHIPPED / "regions", target / "regions")
    monkeypatch.chdir(tmp_path)
    return target


Edit = Callable[[dict[str, Any]], None]


def edit(path: Path, change: Edit) -> None:
    """Load a YAML file, change the data, write it back."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def issues_of(directory: Path) -> list[ConfigIssue]:
    cs = load_config(directory)
    return cs.issues + check(cs)


def find(issues: list[ConfigIssue], file: str, path: str, text: str, severity: str = "error") -> ConfigIssue:
    """The one issue at file + path whose message contains `text`; fails listing all issues otherwise."""
    for issue in issues:
        if issue.file == file and issue.path == path and text in issue.message and issue.severity == severity:
            return issue
    listing = "\n".join(f"  [{i.severity}] {i}" for i in issues)
    raise AssertionError(f"no {severity} at {file}: {path} containing {text!r}; got:\n{listing}")
