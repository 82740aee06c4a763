"""The versioned configuration in the database: the truth the running system reads.

Each owner ("national" or a region id) has numbered versions (1, 2, …) of its file's YAML text,
with who and when. Rows are never changed (the table is append-only); a rollback is a new version
with old content. The files on disk are only the seed (`import_files`) and the export format
(`export_files`).

A text is accepted only in the context of the whole set: the owner's new text with everyone
else's current text must load (schema) and pass `config.check` without errors the current set
does not already have. So a broken national file stored by an older release cannot block every
region admin, but no change may add an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Column, DateTime, Text, UniqueConstraint, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from .check import check
from .loader import (
    NATIONAL_FILE,
    REGIONS_DIR,
    ConfigError,
    ConfigIssue,
    ConfigSet,
    _validate,
    default_directory,
    line_for,
    load_config,
    parse_text,
)
from .regions import REGIONS
from .resolve import NATIONAL
from .schema import NationalConfig, RegionConfig

OWNERS: tuple[str, ...] = (NATIONAL, *REGIONS)
IMPORT_BY = "import"


class ConfigVersion(SQLModel, table=True):
    __tablename__ = "config_version"
    __table_args__ = (UniqueConstraint("owner", "version", name="uq_config_version_owner_version"),)

    id: int | None = Field(default=None, primary_key=True)
    owner: str = Field(max_length=16, index=True, description='"national" or a county code')
    version: int = Field(description="1, 2, … per owner")
    content: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    created_by: str = Field(max_length=100, description='username, or "import"')
    comment: str = Field(default="", sa_column=Column(Text, nullable=False))

    def to_json(self, *, content: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "owner": self.owner,
            "version": self.version,
            "created_at": _aware(self.created_at).isoformat(),
            "created_by": self.created_by,
            "comment": self.comment,
        }
        if content:
            data["content"] = self.content
        return data


class StoreError(Exception):
    """A request the store cannot carry out; the message says why (Swedish / English)."""


class UnknownOwner(StoreError):
    pass


class UnknownVersion(StoreError):
    pass


class VersionConflict(StoreError):
    """Someone else stored a version since the text was read (or at the same moment)."""


@dataclass
class Change:
    """The outcome of `propose`/`rollback`: the current version afterwards, whether it is new,
    and the warnings of the owner's file (accepted, but worth showing)."""

    version: ConfigVersion
    changed: bool
    warnings: list[ConfigIssue] = field(default_factory=list)


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; every time we store is UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def file_of(owner: str) -> str:
    """The owner's file as named in issues and in an export: `national.yaml`, `regions/01.yaml`."""
    return NATIONAL_FILE if owner == NATIONAL else f"{REGIONS_DIR}/{owner}.yaml"


def require_owner(owner: str) -> str:
    if owner not in OWNERS:
        raise UnknownOwner(f"okänd ägare {owner!r}: ange national eller ett länsnummer 01–25 / "
                           f"unknown owner {owner!r}: national or a county code")
    return owner


# --- building a set from texts -------------------------------------------------------------------


def build_set(texts: dict[str, str], recordings: Path | None = None) -> ConfigSet:
    """Load texts by owner as `load_config` loads a directory (schema only; run `check` for the
    rest). `recordings` is the directory holding `recordings/<owner>/` (default: the shipped one)."""
    cs = ConfigSet(directory=recordings if recordings is not None else default_directory())
    for owner in OWNERS:
        cs.files[owner] = file_of(owner)
    national = texts.get(NATIONAL)
    if national is None:
        cs.issues.append(ConfigIssue(file_of(NATIONAL), "", "missing: the national file is required"))
    else:
        data = parse_text(national, file_of(NATIONAL), cs)
        if data is not None:
            cs.national = _validate(NationalConfig, data, file_of(NATIONAL), cs)
    for region_id in REGIONS:
        file = file_of(region_id)
        text = texts.get(region_id)
        if text is None:
            cs.issues.append(ConfigIssue(file, "", f"missing: every region needs a file ({REGIONS[region_id]})"))
            continue
        data = parse_text(text, file, cs)
        if data is None:
            continue
        given = data.get("id")
        if given is not None and str(given) != region_id:
            cs.issues.append(ConfigIssue(file, "id", f"{given!r} does not match the region: write \"{region_id}\"",
                                         "error", line_for(cs.lines.get(file, {}), "id")))
            continue
        region = _validate(RegionConfig, data, file, cs)
        if region is not None:
            cs.regions[region_id] = region
    return cs


def validate_texts(texts: dict[str, str], recordings: Path | None = None) -> ConfigSet:
    """`build_set` plus the checks across the set; every problem is in `issues`."""
    cs = build_set(texts, recordings)
    cs.issues.extend(check(cs))
    return cs


# --- reading -------------------------------------------------------------------------------------


def current(session: Session) -> dict[str, ConfigVersion]:
    """The newest version of every owner that has one."""
    newest = (select(ConfigVersion.owner, func.max(ConfigVersion.version).label("v"))
              .group_by(col(ConfigVersion.owner)).subquery())
    rows = session.exec(select(ConfigVersion).join(
        newest, (col(ConfigVersion.owner) == newest.c.owner) & (col(ConfigVersion.version) == newest.c.v)))
    return {row.owner: row for row in rows}


def current_numbers(session: Session) -> dict[str, int]:
    """Owner → newest version number, without the texts (cheap: polled by every instance)."""
    rows = session.exec(select(ConfigVersion.owner, func.max(ConfigVersion.version))
                        .group_by(col(ConfigVersion.owner)))
    return {owner: int(number) for owner, number in rows}


def history(session: Session, owner: str) -> list[ConfigVersion]:
    """Every version of `owner`, newest first."""
    require_owner(owner)
    return list(session.exec(select(ConfigVersion).where(ConfigVersion.owner == owner)
                             .order_by(col(ConfigVersion.version).desc())))


def get_version(session: Session, owner: str, version: int) -> ConfigVersion:
    require_owner(owner)
    row = session.exec(select(ConfigVersion).where(ConfigVersion.owner == owner,
                                                   ConfigVersion.version == version)).first()
    if row is None:
        raise UnknownVersion(f"{owner} har ingen version {version} / {owner} has no version {version}")
    return row


def load_current(session: Session, recordings: Path | None = None) -> tuple[ConfigSet, dict[str, int]]:
    """The stored set, loaded and checked, with the version number of every owner. Raises
    `ConfigError` when it has errors (issues name `regions/<id>.yaml` and the path inside)."""
    rows = current(session)
    if not rows:
        raise ConfigError([ConfigIssue("database", "", "no configuration stored: run `vardlinje config import`")])
    cs = validate_texts({owner: row.content for owner, row in rows.items()}, recordings)
    if cs.errors:
        raise ConfigError(cs.issues)
    return cs, {owner: row.version for owner, row in rows.items()}


# --- writing -------------------------------------------------------------------------------------


def _key(issue: ConfigIssue) -> tuple[str, str, str]:
    # Without the line: an edit above an old problem moves it, it is still the same problem.
    return issue.file, issue.path, issue.message


def _store(session: Session, owner: str, text: str, by: str, comment: str, at: datetime,
           number: int) -> ConfigVersion:
    row = ConfigVersion(owner=owner, version=number, content=text, created_at=at, created_by=by[:100],
                        comment=comment)
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        # Two writers of one owner at the same moment: the unique (owner, version) decides.
        raise VersionConflict(f"{owner} ändrades samtidigt av någon annan; läs om och försök igen / "
                              f"{owner} was changed by someone else at the same moment; reload and retry") from exc
    return row


def propose(session: Session, owner: str, yaml_text: str, by: str, comment: str, at: datetime, *,
            base_version: int | None = None, recordings: Path | None = None) -> Change:
    """Store `yaml_text` as `owner`'s next version if the whole set stays free of new errors.

    Raises `ConfigError` (the new errors, then the owner's warnings) and stores nothing when
    invalid; `VersionConflict` when `base_version` is given and is no longer the current one.
    The same text as the current version stores nothing (`changed` is False)."""
    require_owner(owner)
    rows = current(session)
    now = rows.get(owner)
    if base_version is not None and (now.version if now else 0) != base_version:
        raise VersionConflict(f"{owner} har ändrats sedan version {base_version} (nu version "
                              f"{now.version if now else 0}); läs om och försök igen / {owner} changed since "
                              f"version {base_version}; reload and retry")
    texts = {o: r.content for o, r in rows.items()}
    texts[owner] = yaml_text
    proposed = validate_texts(texts, recordings)
    errors = proposed.errors
    if errors:
        before = {_key(i) for i in validate_texts({o: r.content for o, r in rows.items()}, recordings).errors} \
            if rows else set()
        errors = [i for i in errors if _key(i) not in before]
    file = file_of(owner)
    warnings = [i for i in proposed.warnings if i.file == file]
    if errors:
        raise ConfigError(errors + warnings)
    if now is not None and now.content == yaml_text:
        return Change(now, False, warnings)
    return Change(_store(session, owner, yaml_text, by, comment, at, (now.version if now else 0) + 1), True, warnings)


def rollback(session: Session, owner: str, to_version: int, by: str, at: datetime, *, comment: str = "",
             recordings: Path | None = None) -> Change:
    """A new version of `owner` with the content of `to_version`, validated like any change."""
    old = get_version(session, owner, to_version)
    note = comment or f"återställd till version {to_version} / rolled back to version {to_version}"
    return propose(session, owner, old.content, by, note, at, recordings=recordings)


def _read_files(directory: Path) -> dict[str, str]:
    texts = {}
    for owner in OWNERS:
        path = directory / file_of(owner)
        if path.is_file():
            texts[owner] = path.read_text(encoding="utf-8")
    return texts


def import_files(session: Session, directory: Path | None, by: str = IMPORT_BY,
                 at: datetime | None = None) -> list[ConfigVersion]:
    """Seed from a directory (default: the shipped config/). The directory must pass `config
    check` without errors (`ConfigError` otherwise, naming the files on disk); only owners whose
    text differs from their current version get a new version. Returns the new versions."""
    root = directory if directory is not None else default_directory()
    cs = load_config(root)
    cs.issues.extend(check(cs))
    if cs.errors:
        raise ConfigError(cs.issues)
    when = at if at is not None else datetime.now(UTC)
    rows = current(session)
    added = []
    for owner, text in _read_files(root).items():
        now = rows.get(owner)
        if now is not None and now.content == text:
            continue
        added.append(_store(session, owner, text, by, f"importerad från {root} / imported from {root}", when,
                            (now.version if now else 0) + 1))
    return added


def export_files(session: Session, directory: Path) -> list[Path]:
    """Write every owner's current text to `directory` as national.yaml and regions/<id>.yaml.
    Other files there are left alone. Returns the files written."""
    written = []
    (directory / REGIONS_DIR).mkdir(parents=True, exist_ok=True)
    for owner, row in sorted(current(session).items()):
        path = directory / file_of(owner)
        # Through a temporary name, so a reader never sees half a file.
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(row.content, encoding="utf-8")
        tmp.replace(path)
        written.append(path)
    return written


_COMMENT_LIMIT = 500


def clean_comment(comment: str) -> str:
    """One line, bounded: comments are shown in lists."""
    return re.sub(r"\s+", " ", comment).strip()[:_COMMENT_LIMIT]
