"""Prompts rendered from text: espeak-ng (Swedish voice `sv`, English `en`) and sox make an
8 kHz mono 16-bit WAV that Asterisk plays without transcoding surprises.

Rendered files are cached by a hash of voice and text, so a restart re-renders nothing.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

log = logging.getLogger("vardlinje.prompts")

VOICES = {"sv": "sv", "en": "en"}


class PromptError(RuntimeError):
    """A prompt could not be rendered; the message names the tool and what it said."""


def missing_tools() -> list[str]:
    return [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]


def render_prompt(text: str, out: Path, *, language: str = "sv", speed: int = 150) -> Path:
    """Render `text` to `out` (a .wav path). Returns `out`. Skips work if `out` is current."""
    if language not in VOICES:
        raise PromptError(f"no voice for language {language!r} (have: {', '.join(VOICES)})")
    missing = missing_tools()
    if missing:
        raise PromptError(f"cannot render prompts: {', '.join(missing)} missing (apt-get install espeak-ng sox)")
    digest = hashlib.sha256(f"{language}|{speed}|{text}".encode()).hexdigest()[:16]
    stamp = out.with_suffix(".src")
    if out.exists() and stamp.exists() and stamp.read_text() == digest:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        raw = Path(tmp) / "raw.wav"
        done = Path(tmp) / "out.wav"
        # Text through stdin, never as an argument: prompt text is editable by region admins
        # and must not be read as espeak-ng options (e.g. "-f FILE").
        _run(["espeak-ng", "-v", VOICES[language], "-s", str(speed), "-w", str(raw), "--stdin"], stdin=text)
        _run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", str(done)])
        # Atomic: a concurrent render of the same text, or Asterisk reading it, never sees half a file.
        os.replace(done, out)
    stamp.write_text(digest)
    return out


def duration_seconds(path: Path) -> float:
    done = subprocess.run(["soxi", "-D", str(path)], capture_output=True, text=True, check=False)
    try:
        return float(done.stdout.strip())
    except ValueError as exc:
        raise PromptError(f"soxi could not read {path}: {done.stderr.strip()}") from exc


def _run(cmd: list[str], stdin: str | None = None) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, input=stdin if stdin is not None else "")
    if done.returncode != 0:
        raise PromptError(f"{cmd[0]} failed ({done.returncode}): {done.stderr.strip()[:300]}")


# A calm, quiet melody for callers on hold, synthesised so no licensed music is needed.
_NOTES = ((523, 0.6), (659, 0.6), (784, 0.6), (659, 1.2), (587, 0.6), (523, 1.5))


def render_music(out: Path) -> Path:
    """Hold music (about 6 s, looped by the wait-announcement player)."""
    if out.exists():
        return out
    missing = missing_tools()
    if missing:
        raise PromptError(f"cannot render hold music: {', '.join(missing)} missing")
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", str(out)]
    for i, (freq, seconds) in enumerate(_NOTES):
        if i:
            cmd.append(":")
        cmd += ["synth", str(seconds), "sine", str(freq), "fade", "0.05", str(seconds), str(seconds / 3), "vol", "0.15"]
    cmd += [":", "trim", "0", "1"]
    _run(cmd)
    out.with_suffix(".src").write_text("music-v1")
    return out


def convert_recording(source: Path, out: Path) -> Path:
    """Any audio file sox reads → 8 kHz mono 16-bit WAV (atomically)."""
    if shutil.which("sox") is None:
        raise PromptError("cannot convert recordings: sox missing (apt-get install sox)")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        done = Path(tmp) / "out.wav"
        _run(["sox", str(source), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", str(done)])
        os.replace(done, out)
    return out
