"""The handover from the IVR to routing: one typed route request in, queue status back.

From the moment `Router.enqueue` accepts a request, routing owns the channel: the IVR does
nothing more with it. Routing starts the wait-announcement player when it queues the call
and stops it when the nurse answers (not when her phone starts ringing: a ring-no-answer
sends the call back to the queue, and the caller must never sit in silence meanwhile).
"""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

RegionId = str  # a county code "01" … "25", or "national"


class RouteRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    call_id: str
    channel_id: str
    region: RegionId = Field(description='county code or "national"')
    skills: dict[str, int] = Field(default_factory=dict, description="required skill → minimum level")
    priority: int = Field(5, ge=0, le=9, description="0 is most urgent")
    language: str = "sv"
    queue: str = "advice"
    menu_path: list[str] = Field(default_factory=list, description="the nodes and choices the caller went through")
    config_version: int | None = Field(None, description="the region configuration version the call started with")


class QueueStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    position: int = Field(ge=1)
    estimated_wait_seconds: int | None = Field(None, ge=0, description="None while routing cannot estimate")
    state: Literal["queued", "offered", "rejected"] = "queued"


class Router(Protocol):
    async def enqueue(self, request: RouteRequest) -> QueueStatus: ...
