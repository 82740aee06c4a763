"""`vardlinje ivr simulate` on the shipped configuration: every node type shows up as a
region admin would read it, at the time of day asked for."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import config
from vardlinje.cli import main


def simulate(*args: str) -> str:
    result = CliRunner().invoke(main, ["ivr", "simulate", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_child_queue_with_skills_in_the_day() -> None:
    """play, branch, language, menu and queue: 1 (svenska), 2 (barn), 2 (1–17 år)."""
    out = simulate("01", "--digits", "1,2,2", "--at", "2026-11-25T14:00")
    assert "🔊 Välkommen till 1177 på telefon i Region Stockholm." in out
    assert "→ KÖ 'barn': region 01, kompetens triage ≥ 2, barn ≥ 2, prioritet 4, språk sv" in out


def test_pharmacist_line_only_in_daytime() -> None:
    """The same key reaches the pharmacist in the day and a nurse at night (branch on hours)."""
    assert "→ KÖ 'farmaceut'" in simulate("01", "--digits", "1,4", "--at", "2026-11-25T14:00")
    night = simulate("01", "--digits", "1,4", "--at", "2026-11-25T23:00")
    assert "→ KÖ 'advice'" in night and "pharmacy_closed" in night


def test_sms_and_hangup() -> None:
    """sms and hangup: the chat link goes to the caller's mobile, then goodbye."""
    out = simulate("01", "--digits", "1,5,1", "--at", "2026-11-25T14:00", "--caller", "0701234567")
    assert "✉  SMS till +46701234567:" in out and "https://chatt.regionstockholm.example/1177" in out
    assert out.rstrip().splitlines()[-2] == "→ SAMTALET AVSLUTAS"


def test_transfer_to_the_psychiatric_line() -> None:
    """transfer: Skåne's psychiatric emergency line."""
    out = simulate("12", "--digits", "1,3,2", "--at", "2026-11-25T14:00", "--caller", "+46401234567")
    assert "→ KOPPLAS VIDARE till +46406280450" in out


def test_english_is_chosen_during_the_swedish_offer() -> None:
    """Pressing 2 during the language offer switches every later prompt to English."""
    out = simulate("01", "--digits", "2", "--at", "2026-11-25T14:00")
    assert "If it is life-threatening, hang up and call 112." in out


def test_region_resolved_from_the_caller_number() -> None:
    """Without REGION the numbers decide: a Gothenburg landline is region 14."""
    assert "Region 14" in simulate("--digits", "1", "--caller", "+4631123456", "--at", "2026-11-25T14:00")


def test_collect_node(tmp_path: Path) -> None:
    """collect: a configuration with a call-back number step, validated as a mobile number."""
    shutil.copytree(Path(config.__file__).parent / "regions", tmp_path / "regions")
    shutil.copy(Path(config.__file__).parent / "national.yaml", tmp_path / "national.yaml")
    region = tmp_path / "regions" / "09.yaml"
    text = region.read_text()
    start = text.split("start:", 1)[1].split("\n", 1)[0].strip()
    text = text.replace(f"start: {start}", "start: callback", 1).replace("  nodes:\n", f"""  nodes:
    callback:
      type: collect
      prompt: {{sv: Slå ditt mobilnummer och avsluta med fyrkant.}}
      min_digits: 8
      max_digits: 12
      validator: phone
      store_as: callback_number
      invalid_prompt: {{sv: Det är inget mobilnummer.}}
      retries: 1
      next: {start}
      fallback: {start}
""", 1)
    region.write_text(text)
    out = simulate("09", "--config-dir", str(tmp_path), "--digits", "0812345#,0701234567#,1",
                   "--at", "2026-11-25T14:00")
    assert "🔊 Det är inget mobilnummer." in out
    assert "callback=invalid callback=ok" in out


@pytest.mark.parametrize(("args", "message"), [
    (["99"], "unknown region '99'"),
    (["01", "--at", "i morgon"], "is not an ISO time"),
])
def test_bad_input_is_a_clear_error(args: list[str], message: str) -> None:
    """Bad arguments give a clear message and a non-zero exit, never a traceback."""
    result = CliRunner().invoke(main, ["ivr", "simulate", *args])
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output
