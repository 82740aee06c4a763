"""Where rendered prompts live and the media URI Asterisk plays them by.

Private Asterisk: files in the run's sounds folder inside the root, played by absolute path.
External Asterisk: files in the app's data folder, served by the app over HTTP and fetched
by Asterisk's HTTP media cache (`sound:http://…/prompts/NAME.wav`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ivr.model import Prompt
from ivr.texts import PROMPTS

from .prompts import VOICES, render_music, render_prompt


@dataclass(frozen=True)
class PromptStore:
    directory: Path  # where this app writes the files
    asterisk_prefix: str  # how Asterisk reaches that folder: an absolute path or an http URL

    def file(self, name: str, language: str = "sv") -> Path:
        return self.directory / f"{_stem(name, language)}.wav"

    def version(self, name: str, language: str = "sv") -> str:
        """The digest of the prompt's current text (written when it was rendered)."""
        try:
            return self.file(name, language).with_suffix(".src").read_text().strip()
        except OSError:
            return "unrendered"

    def uri(self, name: str, language: str = "sv") -> str:
        stem = _stem(name, language)
        if self.asterisk_prefix.startswith(("http://", "https://")):
            # The text's digest in the URL: a changed prompt is a new URL, so Asterisk's
            # media cache never plays a stale recording.
            return f"sound:{self.asterisk_prefix.rstrip('/')}/{self.version(name, language)}/{stem}.wav"
        return f"sound:{self.asterisk_prefix.rstrip('/')}/{stem}"

    def uri_for(self, prompt: Prompt, language: str) -> str:
        """Media URI of a menu prompt: its recording, or its text rendered on first use into
        a file named by the text's hash (so edits never replay an old rendering)."""
        if prompt.recording:
            return self._file_uri(Path(prompt.recording).with_suffix(""))
        return self._file_uri(self.render_text(prompt, language).relative_to(self.directory).with_suffix(""))

    def uri_and_length(self, prompt: Prompt, language: str) -> tuple[str, float]:
        """The media URI and the prompt's length in seconds (8 kHz 16-bit mono WAV)."""
        uri = self.uri_for(prompt, language)
        if prompt.recording:
            path = self.directory / Path(prompt.recording).with_suffix(".wav")
        else:
            path = self.render_text(prompt, language)
        try:
            return uri, max(0.0, (path.stat().st_size - 44) / 16000)
        except OSError:
            return uri, 60.0

    def render_text(self, prompt: Prompt, language: str) -> Path:
        """The file of a text prompt in this language, rendered if it is not yet."""
        text = prompt.for_language(language)
        voice = language if language in VOICES else "sv"
        digest = hashlib.sha256(f"{voice}|{text}".encode()).hexdigest()[:20]
        return render_prompt(text, self.directory / "t" / f"{digest}.wav", language=voice)

    def _file_uri(self, stem: PurePosixPath | Path) -> str:
        if self.asterisk_prefix.startswith(("http://", "https://")):
            version = (self.directory / stem).with_suffix(".src").read_text().strip()
            return f"sound:{self.asterisk_prefix.rstrip('/')}/{version}/{stem}.wav"
        return f"sound:{self.asterisk_prefix.rstrip('/')}/{stem}"

    def render(self, names: tuple[str, ...] | None = None) -> list[Path]:
        out = [render_music(self.directory / "music.wav")]
        for name in names or tuple(PROMPTS):
            for language, text in PROMPTS[name].items():
                out.append(render_prompt(text, self.file(name, language), language=language))
        return out


def _stem(name: str, language: str) -> str:
    return name if language == "sv" else f"{name}.{language}"
