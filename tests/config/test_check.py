"""`config check` on broken files: each problem is reported with the file and the path inside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .conftest import edit, find, issues_of

R01 = "cfg/regions/01.yaml"
NAT = "cfg/national.yaml"


def _region(cfg: Path, region_id: str = "01") -> Path:
    return cfg / "regions" / f"{region_id}.yaml"


def _nodes(data: dict[str, Any]) -> dict[str, Any]:
    nodes: dict[str, Any] = data["menu"]["nodes"]
    return nodes


def test_unknown_next_node(cfg: Path) -> None:
    """An option pointing at a node that does not exist names the option's path and suggests the close name."""
    edit(_region(cfg), lambda d: _nodes(d)["main"]["options"]["1"].update(next="q_adlt"))
    issue = find(issues_of(cfg), R01, "menu.nodes.main.options.1.next", "unknown node 'q_adlt'")
    assert "did you mean 'q_adult'" in issue.message
    assert issue.line is not None


def test_unknown_fallback_and_otherwise(cfg: Path) -> None:
    """fallback and otherwise are checked too."""
    def change(d: dict[str, Any]) -> None:
        _nodes(d)["main"]["fallback"] = "nowhere"
        _nodes(d)["pharmacy_hours"]["otherwise"] = "gone"

    edit(_region(cfg), change)
    issues = issues_of(cfg)
    find(issues, R01, "menu.nodes.main.fallback", "unknown node 'nowhere'")
    find(issues, R01, "menu.nodes.pharmacy_hours.otherwise", "unknown node 'gone'")


def test_unreachable_node_is_a_warning(cfg: Path) -> None:
    """A node no path leads to from the start is reported as a warning."""
    edit(_region(cfg), lambda d: _nodes(d).update(orphan={"type": "hangup"}))
    find(issues_of(cfg), R01, "menu.nodes.orphan", "unreachable", "warning")


def test_loop_without_a_way_out(cfg: Path) -> None:
    """Two play nodes that lead to each other trap the caller: an error naming the cycle."""
    def change(d: dict[str, Any]) -> None:
        _nodes(d)["info"]["next"] = "info_more"
        _nodes(d)["info_more"] = {"type": "play", "prompt": {"sv": "Mer.", "en": "More."}, "next": "info"}

    edit(_region(cfg), change)
    issue = find(issues_of(cfg), R01, "menu.nodes.info", "loop without a way out")
    assert "info → info_more → info" in issue.message


def test_menu_retry_loop_is_fine(cfg: Path) -> None:
    """main → info → main is a loop, but main's options and fallback lead out: no loop error."""
    issues = issues_of(cfg)
    assert not [i for i in issues if "loop" in i.message]


def test_hangup_before_sms_means_the_line_closes(cfg: Path) -> None:
    """The advice line never closes: a hang-up reachable without an SMS is an error with the path taken."""
    edit(_region(cfg), lambda d: _nodes(d)["main"].update(fallback="goodbye"))
    issue = find(issues_of(cfg), R01, "menu.nodes.goodbye", "never closes")
    assert "main → goodbye" in issue.message


def test_unknown_skill_and_too_high_level(cfg: Path) -> None:
    """Skills must be in the national vocabulary, levels at most the skill's highest level."""
    def change(d: dict[str, Any]) -> None:
        _nodes(d)["q_adult"]["skills"] = {"triage": 2, "barnn": 1}
        _nodes(d)["q_psych"]["skills"] = {"psykiatri": 5}

    edit(_region(cfg), change)
    issues = issues_of(cfg)
    assert "did you mean 'barn'" in find(issues, R01, "menu.nodes.q_adult.skills.barnn", "unknown skill").message
    find(issues, R01, "menu.nodes.q_psych.skills.psykiatri", "level 5 is above the highest level of 'psykiatri' (3)")


def test_unknown_queue(cfg: Path) -> None:
    """A queue node naming a queue the national file does not define."""
    edit(_region(cfg), lambda d: _nodes(d)["q_adult"].update(queue="akut"))
    find(issues_of(cfg), R01, "menu.nodes.q_adult.queue", "unknown queue 'akut'")


def test_unknown_opening_hours_set(cfg: Path) -> None:
    """A branch condition naming an opening-hours set the region lacks."""
    edit(_region(cfg), lambda d: _nodes(d)["pharmacy_hours"]["rules"][0]["when"].update(open="apotek"))
    issues = issues_of(cfg)
    find(issues, R01, "menu.nodes.pharmacy_hours.rules.0.when.open", "unknown opening-hours set 'apotek'")
    find(issues, R01, "opening_hours.pharmacy", "not used by any branch condition", "warning")


def test_empty_condition_time_window(cfg: Path) -> None:
    """A condition time window that starts and ends at the same time is empty."""
    edit(_region(cfg), lambda d: _nodes(d)["peak"]["rules"][0]["when"].update(time={"start": "08:00", "end": "08:00"}))
    find(issues_of(cfg), R01, "menu.nodes.peak.rules.0.when.time", "empty time window")


def test_sms_unknown_template_and_missing_link(cfg: Path) -> None:
    """An SMS node naming an unknown template, and one sending a link the region has not configured."""
    def change(d: dict[str, Any]) -> None:
        _nodes(d)["sms_chat"]["template"] = "chat"
        del d["sms"]["form_url"]

    edit(_region(cfg), change)
    issues = issues_of(cfg)
    find(issues, R01, "menu.nodes.sms_chat.template", "unknown SMS template 'chat'")
    find(issues, R01, "menu.nodes.sms_form.link", "the form link is not configured (sms.form_url)")


def test_sms_template_placeholders(cfg: Path) -> None:
    """Unknown placeholders are errors; a template without {link} is a warning where it is used."""
    def change(d: dict[str, Any]) -> None:
        d["sms"]["templates"]["chatt"] = {"sv": "Hej {namn}, ring oss.", "en": "Hi {namn}."}

    edit(_region(cfg), change)
    issues = issues_of(cfg)
    find(issues, R01, "sms.templates.chatt.sv", "unknown placeholder {namn}")
    find(issues, R01, "menu.nodes.sms_chat.template", "has no {link}", "warning")


def test_invalid_url(cfg: Path) -> None:
    """Links must be https."""
    edit(_region(cfg), lambda d: d["sms"].update(chat_url="http://chatt.regionstockholm.example/1177"))
    find(issues_of(cfg), R01, "sms.chat_url", "links must use https://")


def test_duplicate_yaml_keys(cfg: Path) -> None:
    """An option digit used twice (a YAML duplicate key) is an error with the line of the second."""
    path = _region(cfg, "09")
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("'2': {next: q_child, label: barn}",
                                 "'2': {next: q_child, label: barn}\n        2: {next: q_adult, label: vuxen}"),
                    encoding="utf-8")
    issue = find(issues_of(cfg), "cfg/regions/09.yaml", "menu.nodes.main.options.2", "duplicate key '2'")
    assert issue.line is not None and "first on line" in issue.message


def test_two_digits_choose_the_same_language(cfg: Path) -> None:
    """Two language choices for the same language, and a language the region does not declare."""
    edit(_region(cfg), lambda d: _nodes(d)["language"].update(choices={1: "sv", 2: "en", 3: "en", 4: "de"}))
    issues = issues_of(cfg)
    find(issues, R01, "menu.nodes.language.choices.3", "duplicate choice: '2' already chooses 'en'")
    find(issues, R01, "menu.nodes.language.choices.4", "'de' is not among this file's languages")


def test_prompt_missing_a_declared_language(cfg: Path) -> None:
    """Every prompt has text in each language the region declares."""
    edit(_region(cfg), lambda d: _nodes(d)["main"].update(invalid_prompt={"sv": "Fel val."}))
    find(issues_of(cfg), R01, "menu.nodes.main.invalid_prompt", "missing prompt text in en")


def test_recordings_must_exist(cfg: Path) -> None:
    """A recording is looked up in recordings/<region>/; missing files and paths escaping it are errors."""
    def change(d: dict[str, Any]) -> None:
        _nodes(d)["welcome"]["prompt"] = {"recording": "valkommen.wav"}
        _nodes(d)["emergency"]["prompt"] = {"recording": "../secret.wav"}
        _nodes(d)["info"]["prompt"] = {"recording": "info.wav"}

    (cfg / "recordings" / "01").mkdir(parents=True)
    (cfg / "recordings" / "01" / "info.wav").write_bytes(b"RIFF")
    edit(_region(cfg), change)
    issues = issues_of(cfg)
    find(issues, R01, "menu.nodes.welcome.prompt.recording", "recording not found")
    find(issues, R01, "menu.nodes.emergency.prompt.recording", "no ..")
    assert not [i for i in issues if i.path.startswith("menu.nodes.info.")]


def test_invalid_numbers(cfg: Path) -> None:
    """Region numbers, transfer numbers and relay numbers are checked with phonenumbers; 1177 is refused."""
    def change(d: dict[str, Any]) -> None:
        d["numbers"] = ["+4612", "1177"]
        _nodes(d)["psych_transfer"]["number"] = "+46000000000"

    edit(_region(cfg), change)
    edit(cfg / "national.yaml", lambda d: d["relay_numbers"]["texttelefoni"].update(number="020-123"))
    issues = issues_of(cfg)
    find(issues, R01, "numbers.0", "is not an E.164 number")
    find(issues, R01, "numbers.1", "short number shared by all regions")
    find(issues, R01, "menu.nodes.psych_transfer.number", "not a valid phone number")
    find(issues, NAT, "relay_numbers.texttelefoni.number", "is not an E.164 number")


def test_opening_hours_windows(cfg: Path) -> None:
    """Inverted and empty windows are errors (with a hint for midnight); overlapping windows are warnings,
    including the tail of a window crossing midnight."""
    def bad(d: dict[str, Any]) -> None:
        d["opening_hours"]["pharmacy"]["weekly"]["monday"] = ["20:00-08:00"]
        d["opening_hours"]["pharmacy"]["weekly"]["tuesday"] = ["08:00-08:00"]

    edit(_region(cfg), bad)
    issues = issues_of(cfg)
    inverted = find(issues, R01, "opening_hours.pharmacy.weekly.monday.0", "inverted window")
    assert '"20:00-08:00+1"' in inverted.message
    find(issues, R01, "opening_hours.pharmacy.weekly.tuesday.0", "empty window")

    def overlapping(d: dict[str, Any]) -> None:
        d["opening_hours"]["pharmacy"]["weekly"]["monday"] = ["08:00-12:00", "11:00-16:00", "22:00-02:00+1"]
        d["opening_hours"]["pharmacy"]["weekly"]["tuesday"] = ["01:00-09:00"]

    edit(_region(cfg, "12"), overlapping)
    issues = issues_of(cfg)
    find(issues, "cfg/regions/12.yaml", "opening_hours.pharmacy.weekly.monday.1", "11:00-16:00 overlaps 08:00-12:00",
         "warning")
    find(issues, "cfg/regions/12.yaml", "opening_hours.pharmacy.weekly.tuesday.0", "01:00-09:00 overlaps 00:00-02:00",
         "warning")


def test_never_open_set(cfg: Path) -> None:
    """An opening-hours set without any window is a warning."""
    edit(_region(cfg), lambda d: d["opening_hours"]["child_health"].update(
        weekly={}, holidays="closed", eves="closed", exceptions={}))
    find(issues_of(cfg), R01, "opening_hours.child_health", "never open", "warning")


def test_numbers_and_prefixes_claimed_twice(cfg: Path) -> None:
    """A dialled number or a caller prefix claimed by two regions; the message names the other file."""
    def change(d: dict[str, Any]) -> None:
        d["numbers"] = ["+46846500400"]
        d["caller_prefixes"] = ["+4618", "+468"]

    edit(_region(cfg, "03"), change)
    issues = issues_of(cfg)
    find(issues, "cfg/regions/03.yaml", "numbers.0", "already claimed by cfg/regions/01.yaml (numbers.0)")
    find(issues, "cfg/regions/03.yaml", "caller_prefixes.1", "caller prefix +468 is already claimed by "
         "cfg/regions/01.yaml")


def test_relay_number_clashing_with_a_region_number(cfg: Path) -> None:
    """A relay-service number that is also a region's number."""
    edit(cfg / "national.yaml", lambda d: d["relay_numbers"]["bildtelefoni"].update(number="+46406280400"))
    find(issues_of(cfg), NAT, "relay_numbers.bildtelefoni.number", "is also region 12's number")


def test_agreements_naming_unknown_regions(cfg: Path) -> None:
    """Collaboration agreements and the national queue name real regions; a region cannot serve itself."""
    def change(d: dict[str, Any]) -> None:
        d["agreements"]["syd_geografisk"]["regions"] = ["12", "02"]
        d["agreements"]["natt_norr"]["served"] = ["23", "24"]
        d["agreements"]["halland_motestackning"]["covered"] = "99"
        d["national_queue"]["served_by"] = ["01", "11"]

    edit(cfg / "national.yaml", change)
    issues = issues_of(cfg)
    find(issues, NAT, "agreements.syd_geografisk.regions.1", "unknown region '02'")
    find(issues, NAT, "agreements.natt_norr.served.1", "cannot serve itself")
    find(issues, NAT, "agreements.halland_motestackning.covered", "unknown region '99'")
    find(issues, NAT, "national_queue.served_by.1", "unknown region '11'")


def test_overlapping_night_agreements(cfg: Path) -> None:
    """Two night partners for the same region at overlapping hours: a warning."""
    edit(cfg / "national.yaml", lambda d: d["agreements"].update(natt_extra={
        "kind": "night", "answering": "22", "served": ["25"], "window": "23:00-06:00+1"}))
    find(issues_of(cfg), NAT, "agreements.natt_extra.window", "overlaps night agreement 'natt_norr'", "warning")


def test_agreement_schema_errors(cfg: Path) -> None:
    """Schema errors inside a tagged union name the path without pydantic's tag."""
    def change(d: dict[str, Any]) -> None:
        d["agreements"]["syd_geografisk"].update(after_wait_seconds=None, queue_length=None)
        d["agreements"]["natt_norr"]["extra"] = 1
        d["agreements"]["natt_mitt"]["window"] = "07:00-21:30"
        d["agreements"]["natt_mitt"]["kind"] = "nattetid"

    edit(cfg / "national.yaml", change)
    issues = issues_of(cfg)
    find(issues, NAT, "agreements.syd_geografisk", "give after_wait_seconds, queue_length or both")
    find(issues, NAT, "agreements.natt_norr.extra", "unknown field")
    find(issues, NAT, "agreements.natt_mitt", "'nattetid'")


def test_schema_errors_name_the_path(cfg: Path) -> None:
    """Field errors inside menu nodes (a tagged union) come out as menu.nodes.<id>.<field>; all errors of a
    file are collected, not just the first."""
    def change(d: dict[str, Any]) -> None:
        _nodes(d)["q_adult"]["priority"] = 12
        _nodes(d)["q_adult"]["queue"] = 7
        _nodes(d)["main"]["options"]["12"] = {"next": "q_adult"}
        _nodes(d)["info"]["nxt"] = "main"

    edit(_region(cfg), change)
    issues = issues_of(cfg)
    find(issues, R01, "menu.nodes.q_adult.priority", "less than or equal to 9")
    find(issues, R01, "menu.nodes.q_adult.queue", "put it in quotes")
    find(issues, R01, "menu.nodes.main.options", "option keys are single keys")
    find(issues, R01, "menu.nodes.info.nxt", "unknown field")


def test_region_identity(cfg: Path) -> None:
    """The id must match the file name, and the name the region's real name."""
    edit(_region(cfg, "03"), lambda d: d.update(id="04"))
    edit(_region(cfg, "05"), lambda d: d.update(name="Region Östergöthland"))
    issues = issues_of(cfg)
    find(issues, "cfg/regions/03.yaml", "id", "does not match the file name")
    find(issues, "cfg/regions/05.yaml", "", "name must be 'Region Östergötland'")


def test_missing_and_stray_files(cfg: Path) -> None:
    """Every region needs a file; other names in regions/ and a missing national file are errors."""
    (cfg / "regions" / "20.yaml").unlink()
    (cfg / "regions" / "stockholm.yaml").write_text("id: '01'\n", encoding="utf-8")
    (cfg / "national.yaml").unlink()
    issues = issues_of(cfg)
    find(issues, "cfg/regions/20.yaml", "", "missing: every region needs a file (Region Dalarna)")
    find(issues, "cfg/regions/stockholm.yaml", "", "region files are named")
    find(issues, NAT, "", "missing: the national file")


def test_not_yaml(cfg: Path) -> None:
    """A file that is not YAML is reported with its line."""
    (cfg / "regions" / "09.yaml").write_text("id: '09'\nmenu: [unclosed\n", encoding="utf-8")
    issue = find(issues_of(cfg), "cfg/regions/09.yaml", "", "not valid YAML")
    assert issue.line is not None


def test_yaml_1_1_surprises_are_off(cfg: Path) -> None:
    """Unquoted 22:00 stays a time (not 1320), `no` stays Norwegian, 01 stays a county code."""
    from config.loader import load_yaml

    data = load_yaml("t: 22:00\nlang: no\nid: 01\nn: +46812345600\nd: 2026-12-24\nb: yes\nok: true\n").data
    assert data == {"t": "22:00", "lang": "no", "id": "01", "n": "+46812345600", "d": "2026-12-24", "b": "yes",
                    "ok": True}
