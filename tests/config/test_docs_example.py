"""docs/regions.md stays true: its complete example region passes `config check`."""

from __future__ import annotations

import re
from pathlib import Path

from .conftest import issues_of

DOC = Path(__file__).resolve().parents[2] / "docs" / "regions.md"


def test_documented_example_region_passes(cfg: Path) -> None:
    """The "complete small region" example replaces Gotland's file and gives no errors or warnings."""
    match = re.search(r"## A complete small region\n\n```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert match
    (cfg / "regions" / "09.yaml").write_text(match.group(1), encoding="utf-8")
    assert [str(i) for i in issues_of(cfg)] == []


def test_comma_in_flow_mapping_gets_a_hint(cfg: Path) -> None:
    """The classic slip {sv: Hej, tryck 1} is explained."""
    path = cfg / "regions" / "09.yaml"
    text = path.read_text(encoding="utf-8").replace(
        "prompt:\n        sv: Välkommen till 1177 på telefon i Region Gotland.",
        "prompt: {sv: Välkommen till 1177 på telefon i Region Gotland, ring 112.}")
    path.write_text(text, encoding="utf-8")
    assert any("a comma ends the text" in i.message for i in issues_of(cfg))
