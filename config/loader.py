"""Load a configuration directory (`national.yaml` + `regions/<id>.yaml`) into a `ConfigSet`,
collecting every problem as a `ConfigIssue` (file, path inside it, message, severity) instead of
stopping at the first.

YAML is read with a stricter loader than PyYAML's default (see `load_yaml`):
duplicate keys are errors, and YAML 1.1's surprises are off — `no`/`on`/`yes` stay text (Norwegian
is `no`), `22:00` stays text (not the base-60 number 1320), `01` stays text (a county code), `+46…`
stays text (a phone number) and dates stay text (pydantic reads them).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from .regions import REGIONS
from .resolve import RegionResolver
from .schema import NationalConfig, RegionConfig

Severity = Literal["error", "warning"]
M = TypeVar("M", bound=BaseModel)
NATIONAL_FILE = "national.yaml"
REGIONS_DIR = "regions"
RECORDINGS_DIR = "recordings"


def default_directory() -> Path:
    """The configuration shipped with the package: the `config/` folder itself."""
    return Path(__file__).resolve().parent


@dataclass(frozen=True)
class ConfigIssue:
    file: str  # as shown to the admin: relative to the working directory when under it
    path: str  # dotted path inside the file, e.g. "menu.nodes.main.options.1.next"; "" for the whole file
    message: str
    severity: Severity = "error"
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}: " if self.path else f"{self.file}: "
        tail = f" (line {self.line})" if self.line else ""
        label = "" if self.severity == "error" else "warning: "
        return f"{where}{label}{self.message}{tail}"


class ConfigError(Exception):
    """The configuration has errors; `issues` lists them all."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        errors = [i for i in issues if i.severity == "error"]
        super().__init__(f"{len(errors)} configuration error(s):\n" + "\n".join(f"  {i}" for i in errors))


# --- YAML ------------------------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader with YAML-1.2-like scalars (see the module docstring)."""


_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers
            if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^-?(?:0|[1-9][0-9]*)$"), list("-0123456789"))


@dataclass
class YamlDocument:
    data: Any
    lines: dict[str, int]  # dotted path → line (1-based) of the value
    problems: list[tuple[str, str, int | None]]  # (path, message, line)


def _walk(node: yaml.Node, path: tuple[str, ...], doc: YamlDocument) -> None:
    doc.lines.setdefault(".".join(path), node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            line = key_node.start_mark.line + 1
            if key in seen:
                where = ".".join(path)
                doc.problems.append((f"{where}.{key}" if where else key,
                                     f"duplicate key {key!r} (first on line {seen[key]}); each key may appear once",
                                     line))
            else:
                seen[key] = line
            child = (*path, key)
            doc.lines.setdefault(".".join(child), line)
            _walk(value_node, child, doc)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, str(index)), doc)


def load_yaml(text: str) -> YamlDocument:
    """Parse YAML strictly. Raises yaml.YAMLError for text that is not YAML."""
    doc = YamlDocument(data=None, lines={}, problems=[])
    node = yaml.compose(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    if node is None:
        return doc
    _walk(node, (), doc)
    doc.data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506
    return doc


# --- pydantic errors → paths in the file ------------------------------------------------------------


def _find_key(mapping: dict[Any, Any], element: str | int) -> Any:
    for key in mapping:
        if key == element or str(key) == str(element):
            return key
    return _MISSING


_MISSING = object()


def clean_loc(loc: tuple[str | int, ...], data: Any) -> list[str]:
    """Pydantic's error location as the path in the file: drops the tags pydantic inserts for unions
    (`menu.nodes.main.menu.options` → `menu.nodes.main.options`) and `[key]` markers."""
    out: list[str] = []
    current: Any = data
    tag_skipped = False
    for index, element in enumerate(loc):
        last = index == len(loc) - 1
        if element == "[key]":
            continue
        if isinstance(current, dict):
            tag = current.get("type", current.get("kind"))
            if not tag_skipped and isinstance(tag, str) and element == tag:
                tag_skipped = True
                continue
            key = _find_key(current, element)
            if key is not _MISSING:
                out.append(str(key))
                current = current[key]
                tag_skipped = False
                continue
        elif isinstance(current, list) and isinstance(element, int) and 0 <= element < len(current):
            out.append(str(element))
            current = current[element]
            tag_skipped = False
            continue
        if last:
            out.append(str(element))
    return out


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    given = error.get("input")
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return "unknown field (check the spelling)"
    if kind == "string_type" and given is None:
        return "has no value (inside {…} a comma ends the text: put text with commas in quotes)"
    if kind == "string_type" and isinstance(given, int | float) and not isinstance(given, bool):
        return f"must be text, not the number {given!r}: put it in quotes"
    message = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix):]
    return message


def line_for(lines: dict[str, int], path: str) -> int | None:
    """The line of `path`, or of its nearest ancestor present in the file."""
    parts = path.split(".") if path else []
    while True:
        line = lines.get(".".join(parts))
        if line is not None or not parts:
            return line
        parts.pop()


# --- the set ---------------------------------------------------------------------------------------


def display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


@dataclass
class ConfigSet:
    """Everything loaded from one directory. Files that failed validation are absent from `regions`
    (or `national` is None); their problems are in `issues`."""

    directory: Path
    regions: dict[str, RegionConfig] = field(default_factory=dict)
    national: NationalConfig | None = None
    files: dict[str, str] = field(default_factory=dict)  # "national" or region id → file as displayed
    lines: dict[str, dict[str, int]] = field(default_factory=dict)  # displayed file → path → line
    issues: list[ConfigIssue] = field(default_factory=list)

    @property
    def errors(self) -> list[ConfigIssue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[ConfigIssue]:
        return [i for i in self.issues if i.severity == "warning"]

    def issue(self, owner: str, path: str, message: str, severity: Severity = "error") -> ConfigIssue:
        """Make an issue for `owner` ("national" or a region id) at `path`, with its line."""
        file = self.files.get(owner, owner)
        return ConfigIssue(file, path, message, severity, line_for(self.lines.get(file, {}), path))

    def relay_numbers(self) -> list[str]:
        return [r.number for r in self.national.relay_numbers.values()] if self.national else []

    def resolver(self) -> RegionResolver:
        return RegionResolver.from_config(self.regions, self.relay_numbers())

    def owners(self) -> Iterator[tuple[str, RegionConfig | NationalConfig]]:
        """("national", the national file) then (region id, region) in county-code order."""
        if self.national is not None:
            yield "national", self.national
        for region_id in sorted(self.regions):
            yield region_id, self.regions[region_id]

    def recordings_dir(self, owner: str) -> Path:
        """Recordings of a region (or "national") live in `recordings/<owner>/` of the directory."""
        return self.directory / RECORDINGS_DIR / owner


def _read(path: Path, file: str, cs: ConfigSet) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        cs.issues.append(ConfigIssue(file, "", f"cannot read: {exc}"))
        return None
    return parse_text(text, file, cs)


def parse_text(text: str, file: str, cs: ConfigSet) -> dict[str, Any] | None:
    """One file's YAML text → its data, or None with the problems added to `cs.issues`."""
    try:
        doc = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        cs.issues.append(ConfigIssue(file, "", f"not valid YAML: {problem}", "error",
                                     mark.line + 1 if mark is not None else None))
        return None
    cs.lines[file] = doc.lines
    for path_text, message, line in doc.problems:
        cs.issues.append(ConfigIssue(file, path_text, message, "error", line))
    if doc.problems:
        return None
    if not isinstance(doc.data, dict):
        cs.issues.append(ConfigIssue(file, "", "the file must be a mapping of fields (key: value)"))
        return None
    return doc.data


def _validate(model: type[M], data: Any, file: str, cs: ConfigSet) -> M | None:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            path = ".".join(clean_loc(error["loc"], data))
            cs.issues.append(ConfigIssue(file, path, _message(error), "error",
                                         line_for(cs.lines.get(file, {}), path)))
        return None


def load_config(directory: Path | str | None = None) -> ConfigSet:
    """Load a directory (default: the shipped `config/`). Never raises for bad content: every problem
    found while reading and validating the files is in `ConfigSet.issues`. Run `config.check.check`
    on the result for the checks across files."""
    root = Path(directory) if directory is not None else default_directory()
    cs = ConfigSet(directory=root)
    if not root.is_dir():
        cs.issues.append(ConfigIssue(display(root), "", "not a directory"))
        return cs

    national_path = root / NATIONAL_FILE
    file = display(national_path)
    cs.files["national"] = file
    if not national_path.is_file():
        cs.issues.append(ConfigIssue(file, "", "missing: the national file (skills, queues, agreements, national "
                                     "menu) is required"))
    else:
        data = _read(national_path, file, cs)
        if data is not None:
            cs.national = _validate(NationalConfig, data, file, cs)

    regions_dir = root / REGIONS_DIR
    for region_id in REGIONS:
        cs.files[region_id] = display(regions_dir / f"{region_id}.yaml")
    if regions_dir.is_dir():
        for path in sorted(regions_dir.iterdir()):
            if path.suffix in (".yaml", ".yml") and not re.fullmatch(r"[0-9]{2}\.yaml", path.name):
                cs.issues.append(ConfigIssue(display(path), "", "region files are named <county code>.yaml, "
                                             "e.g. 01.yaml"))
            elif path.suffix == ".yaml" and path.stem not in REGIONS:
                cs.issues.append(ConfigIssue(display(path), "", f"{path.stem!r} is not a region's county code "
                                             f"({', '.join(REGIONS)})"))
    for region_id in REGIONS:
        path = regions_dir / f"{region_id}.yaml"
        file = cs.files[region_id]
        if not path.is_file():
            cs.issues.append(ConfigIssue(file, "", f"missing: every region needs a file ({REGIONS[region_id]})"))
            continue
        data = _read(path, file, cs)
        if data is None:
            continue
        given = data.get("id")
        if given is not None and str(given) != region_id and not (isinstance(given, int) and f"{given:02d}" == region_id):
            cs.issues.append(ConfigIssue(file, "id", f"{given!r} does not match the file name: write \"{region_id}\"",
                                         "error", line_for(cs.lines.get(file, {}), "id")))
            continue
        region = _validate(RegionConfig, data, file, cs)
        if region is not None:
            cs.regions[region_id] = region
    return cs


def load_valid_config(directory: Path | str | None = None) -> ConfigSet:
    """Load and check; raise `ConfigError` (listing every error) when anything is wrong. Warnings are
    kept in `issues`. This is what the running system calls."""
    from .check import check

    cs = load_config(directory)
    cs.issues.extend(check(cs))
    if cs.errors:
        raise ConfigError(cs.issues)
    return cs
