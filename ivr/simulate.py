"""The text simulator for region admins: the real interpreter, a scripted caller, and every
prompt and action printed (`vardlinje ivr simulate REGION --digits 1,2 --at … --caller …`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from .calls import RegionDirectory
from .flow import CallState, Outcome, run_flow
from .handover import RouteRequest
from .model import Prompt


class TextIO:
    """A caller who gives the scripted answers in order, then stays silent."""

    def __init__(self, answers: list[str], echo: Callable[[str], None]) -> None:
        self.answers = list(answers)
        self.echo = echo
        self.sms: list[tuple[str, str]] = []

    async def play(self, prompt: Prompt, language: str) -> None:
        self.echo(f"  🔊 {_say(prompt, language)}")

    async def collect(self, prompt: Prompt | None, language: str, *, max_digits: int, timeout: float,
                      terminator: str) -> str:
        if prompt is not None:
            self.echo(f"  🔊 {_say(prompt, language)}")
        keys = self.answers.pop(0) if self.answers else ""
        self.echo(f"  ⌨  {keys}" if keys else f"  ⌨  (inget svar på {timeout:g} s)")
        return keys

    async def send_sms(self, to: str, body: str) -> bool:
        self.sms.append((to, body))
        self.echo(f"  ✉  SMS till {to}: {body}")
        return True

    async def queue(self, request: RouteRequest) -> None:
        skills = ", ".join(f"{k} ≥ {v}" for k, v in request.skills.items()) or "inga"
        self.echo(f"→ KÖ '{request.queue}': region {request.region}, kompetens {skills}, prioritet "
                  f"{request.priority}, språk {request.language}")

    async def transfer(self, number: str) -> None:
        self.echo(f"→ KOPPLAS VIDARE till {number}")

    async def hangup(self) -> None:
        self.echo("→ SAMTALET AVSLUTAS")


def _say(prompt: Prompt, language: str) -> str:
    return f"[inspelning {prompt.recording}]" if prompt.recording else prompt.for_language(language)


async def simulate(
    directory: RegionDirectory,
    *,
    region: str | None,
    answers: list[str],
    at: datetime,
    caller: str,
    dialled: str = "1177",
    echo: Callable[[str], None] = print,
) -> Outcome:
    """Walk a region's menu (or resolve it from the numbers when `region` is None)."""
    resolved = region or directory.resolve(dialled, caller)
    if resolved is None:
        resolved = "national"
        echo(f"(numret {caller} ger ingen region; en riktig uppringare får knappa in länskoden)")
    echo(f"Region {resolved}, tid {at.isoformat(timespec='minutes')}, från {caller or 'dolt nummer'}")
    state = CallState(call_id="simulering", channel_id="-", caller_number=caller, region=resolved,
                      config_version=directory.version(resolved))
    io = TextIO(answers, echo)
    outcome = await run_flow(directory.menu(resolved), directory.env(resolved), io, state, lambda: at)
    echo(f"Väg: {' '.join(state.path)}")
    return outcome
