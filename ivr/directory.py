"""The region configuration as the IVR sees it: `RegionDirectory` and `FlowEnv` over a
loaded, checked `ConfigSet` (the files now; the versioned database copy later)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from config.hours import evaluate
from config.loader import ConfigSet
from config.regions import REGIONS
from config.resolve import NATIONAL
from config.schema import NationalConfig, RegionConfig
from sms.numbers import sms_number

from .model import Condition, Menu, Prompt


class ConfigEnv:
    """FlowEnv for one region (or the national menu)."""

    def __init__(self, owner: RegionConfig | NationalConfig, directory: ConfigDirectory, name: str) -> None:
        self.owner = owner
        self.directory = directory
        self.name = name

    def condition_holds(self, condition: Condition, at: datetime) -> bool:
        return evaluate(condition, at, self.owner)

    def region_for_code(self, digits: str) -> str | None:
        return self.directory.region_for_code(digits)

    def mobile_number(self, number: str) -> str | None:
        return sms_number(number)

    def sms_body(self, template: str, link: Literal["chat", "form"], language: str) -> str:
        sms = self.owner.sms
        if sms is None or template not in sms.templates:
            raise LookupError(f"{self.name}: no SMS template {template!r}")  # config check prevents this
        texts = sms.templates[template]
        url = sms.chat_url if link == "chat" else sms.form_url
        return texts.get(language, texts["sv"]).format(link=url or "", region=self.name)


class ConfigDirectory:
    def __init__(self, config: ConfigSet, version: int | None = None) -> None:
        if config.national is None:
            raise ValueError("the configuration has no valid national file")
        self.config = config
        self.national: NationalConfig = config.national
        self.resolver = config.resolver()
        self._version = version

    def _owner(self, region: str) -> tuple[RegionConfig | NationalConfig, str]:
        if region == NATIONAL or region not in self.config.regions:
            return self.national, "Vårdlinjen"
        return self.config.regions[region], REGIONS.get(region, region)

    def resolve(self, dialled: str, caller: str) -> str | None:
        return self.resolver.resolve(dialled, caller).region

    def region_for_code(self, digits: str) -> str | None:
        code = digits.strip().rstrip("#").zfill(2)
        return code if code in self.config.regions else None

    def region_prompt(self) -> tuple[Prompt, Prompt | None, float, int]:
        choice = self.national.region_choice
        return choice.prompt, choice.invalid_prompt, choice.timeout_seconds, choice.retries

    def menu(self, region: str) -> Menu:
        return self._owner(region)[0].menu

    def env(self, region: str) -> ConfigEnv:
        owner, name = self._owner(region)
        return ConfigEnv(owner, self, name)

    def version(self, region: str) -> int | None:
        return self._version
