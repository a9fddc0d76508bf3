"""The sim source: presence straight from the audience model, no network. For demos and
for filling a data folder quickly; samples say `"source": "sim"`."""

from __future__ import annotations

from tpdask.collect.sources import Channel, Observation
from tpdask.days import day_of
from tpdask.simulator.audience import AudienceConfig, AudienceModel


class SimSource:
    name = "sim"

    def __init__(self, config: AudienceConfig):
        self.config = config
        self.models: dict[str, AudienceModel] = {}
        self.now = 0.0

    def model(self, ts: float) -> AudienceModel:
        day = day_of(int(ts))
        if day not in self.models:
            self.models = {day: AudienceModel(self.config, day)}
        return self.models[day]

    def select(self, top: int, always: list[str]):
        def select(ts: float) -> list[Channel]:
            self.now = ts
            streams = self.model(ts).live_streams(int(ts))
            chosen = streams[:top] + [s for s in streams[top:] if s["user_login"] in always]
            return [Channel.from_helix(s) for s in chosen]

        return select

    def observe(self, channels: list[Channel]) -> dict[str, Observation]:
        model = self.model(self.now)
        return {c.login: Observation(chatters=model.chatters(int(self.now), c.login),
                                     observed_by="model") for c in channels}

    def close(self) -> None:
        pass
