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

from .prompts import VOICES, convert_recording, render_music, render_prompt


@dataclass(frozen=True)
class PromptStore:
    directory: Path  # where this app writes the files
    asterisk_prefix: str  # how Asterisk reaches that folder: an absolute path or an http URL
    config_dir: Path | None = None  # region recordings: CONFIG_DIR/recordings/<owner>/<file>

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

    def uri_for(self, prompt: Prompt, language: str, owner: str = "national") -> str:
        """Media URI of a menu prompt: its recording, or its text rendered on first use into
        a file named by the text's hash (so edits never replay an old rendering)."""
        return self._file_uri(self._local(prompt, language, owner).relative_to(self.directory).with_suffix(""))

    def _local(self, prompt: Prompt, language: str, owner: str) -> Path:
        """The prompt's file in this store, made (rendered or converted) if needed."""
        if not prompt.recording:
            return self.render_text(prompt, language)
        if self.config_dir is not None:
            source = self.config_dir / "recordings" / owner / prompt.recording
            if source.is_file():
                return self.import_recording(source, owner)
        return self.directory / Path(prompt.recording).with_suffix(".wav")  # ours, e.g. hold music

    def import_recording(self, source: Path, owner: str) -> Path:
        """A region's recording converted to what Asterisk plays (8 kHz mono WAV); redone
        when the source changes."""
        out = self.directory / "rec" / owner / f"{source.stem}.wav"
        digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
        stamp = out.with_suffix(".src")
        if out.exists() and stamp.exists() and stamp.read_text() == digest:
            return out
        convert_recording(source, out)
        stamp.write_text(digest)
        return out

    def uri_and_length(self, prompt: Prompt, language: str, owner: str = "national") -> tuple[str, float]:
        """The media URI and the prompt's length in seconds (8 kHz 16-bit mono WAV)."""
        path = self._local(prompt, language, owner)
        uri = self._file_uri(path.relative_to(self.directory).with_suffix(""))
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
