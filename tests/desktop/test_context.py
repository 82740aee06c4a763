"""The call view's words: the IVR's path turned into the caller's choices, and numbers as a Swedish nurse
reads them (desktop/context.py, pure)."""

from __future__ import annotations

import yaml

from desktop.context import display_number, menu_choices, region_name
from ivr.model import Menu

MENU = Menu.model_validate(yaml.safe_load("""
start: language
nodes:
  language: {type: language, prompt: {sv: Välj språk}, choices: {'1': sv, '2': en}, default: sv, next: main}
  main:
    type: menu
    prompt: {sv: "Vuxen 1, barn 2"}
    options: {'1': {next: q_adult, label: vuxen}, '2': {next: child, label: barn}}
    fallback: q_adult
  child:
    type: menu
    prompt: {sv: Under ett år 1}
    options: {'1': {next: q_child}}
    fallback: q_child
  q_adult: {type: queue, queue: advice, skills: {triage: 2}}
  q_child: {type: queue, queue: barn, skills: {triage: 2, barn: 2}}
"""))


def test_a_path_reads_as_the_callers_choices() -> None:
    """Menu keys by their labels (raw keys where an option has none), language by name, queue by its name."""
    path = ["language", "language=2:en", "main", "main=2", "child", "child=1", "q_child"]
    got = menu_choices(MENU, path, {"barn": "Barn och ungdom"})
    assert [c["label"] for c in got] == ["språk: engelska", "barn", "1", "kö: Barn och ungdom"]


def test_no_choice_and_an_unknown_menu_still_read_sensibly() -> None:
    """Time-outs and invalid keys say so in Swedish; without the menu (another version) only what the path
    itself tells is shown, never an error."""
    path = ["language", "language=-:sv", "main", "main=timeout", "main=invalid", "main=timeout", "q_adult"]
    assert [c["label"] for c in menu_choices(MENU, path)] == ["språk: svenska", "inget val", "ogiltigt val",
                                                             "inget val", "kö: advice"]
    assert [c["label"] for c in menu_choices(None, ["main", "main=2", "main=timeout"])] == ["inget val"]


def test_numbers_and_regions_in_the_nurses_words() -> None:
    """Swedish numbers in national form, others international, non-numbers as received."""
    assert display_number("+46812345678") == "08-123 456 78"
    assert display_number("+46701234567") == "070-123 45 67"
    assert display_number("+4721234567") == "+47 21 23 45 67"
    assert display_number("anonymous") == "anonymous"
    assert region_name("01") == "Region Stockholm" and region_name("national") == "Nationella kön"
