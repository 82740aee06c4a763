"""Routing in `vardlinje run`, as an operator drives it: a demo nurse's phone (sipp) is set to a SIP
phone, registers, logs in and makes herself ready with the CLI; a real call walks the Stockholm menu
to the child queue, rings her phone, is answered and bridged; her presence history shows the offer,
the call and the wrap-up."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from telephony.sipp import PHONE_ANSWERS

from ..agents.test_provision import FakeNurse
from ..test_run_command import VARDLINJE, Running, env, started  # noqa: F401  (fixtures)
from .test_asterisk_offer import NursePhone

pytestmark = pytest.mark.asterisk


def _cli(environ: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([VARDLINJE, *args], env=environ, capture_output=True, text=True, timeout=120, cwd=cwd)
    assert done.returncode == 0, f"vardlinje {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done


def test_a_real_call_reaches_the_ready_nurse_and_is_bridged(env: dict[str, str], tmp_path: Path,  # noqa: F811
                                                           started: list[Running], sipp: str) -> None:  # noqa: F811
    """The whole path in the product: CLI presence → Redis store → engine → originate → bridge."""
    run = Running(env, tmp_path / "run.log")
    started.append(run)
    run.wait_banner()

    phone_out = _cli(env, tmp_path, "nurse", "phone", "anna.nilsson", "--set", "udp", "--show-secret")
    endpoint = re.search(r"endpoint (nurse-\d+)", phone_out.stdout)
    secret = re.search(r"password (\S+)", phone_out.stdout)
    assert endpoint and secret, phone_out.stdout
    assert "running system was told" in phone_out.stderr
    phone = NursePhone(sipp, int(env["VARDLINJE_ASTERISK__SIP_PORT"]), tmp_path,
                       FakeNurse(endpoint.group(1), secret.group(1), phone="udp"))
    deadline = time.monotonic() + 20
    while True:  # the app pushes the endpoint when it hears of the change: moments, not a restart
        try:
            phone.register()
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)

    assert "is paused (administration)" in _cli(env, tmp_path, "nurse", "login", "anna.nilsson").stdout
    assert "is ready" in _cli(env, tmp_path, "nurse", "ready", "anna.nilsson").stdout
    phone.listen(PHONE_ANSWERS)

    # Svenska (1), barn (2), 1–17 år (2): the child queue, which needs triage 2 and barn 2 — Anna has both.
    call = _cli(env, tmp_path, "call", "1177", "--caller", "+46812345678", "--keys", "1,2,2", "--hold", "34")  # peak msg 08–10
    assert phone.wait(30) == 0, f"nurse phone: {phone.errors()}"
    out = call.stdout
    assert '"queue": "barn"' in out, out
    assert "offer.answered" in out and "call.bridged" in out, out
    assert f'"nurse": "{endpoint.group(1)}"' in out, out

    history = _cli(env, tmp_path, "nurse", "presence", "anna.nilsson").stdout
    for change in ("ready → offered", "offered → on_call", "on_call → wrap_up"):
        assert change in history.replace("  ", " ").replace("  ", " "), history
    # A pause during wrap-up is hers to take; a pause is refused while her phone rings (state machine).
    assert "is paused (break)" in _cli(env, tmp_path, "nurse", "pause", "anna.nilsson", "--reason", "break").stdout
