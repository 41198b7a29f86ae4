"""A trigger's ``rate_limit {max, window}`` (spec §2.8): at most ``max`` requests in any ``window``, a
sliding window persisted in ``trigger_states`` — so every queen on the database counts against the same
window, a restart forgets nothing, and resetting a trigger's state (``DELETE …/triggers/{name}/state``)
empties it. An event over the limit is dropped, as a filtered one is (Formicary's evaluator: not passed):
a webhook answers ``202 {"filtered": true}``, an S3 object's watermark moves past it, a queue message is
acked."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from myrmica.domain.records import DefinitionRecord
from myrmica.domain.trigger_config import rate_limit_of
from myrmica.domain.trigger_state import TriggerStates


class TriggerRates:
    def __init__(self, states: TriggerStates, clock: Callable[[], float] = time.time) -> None:
        self._states = states
        self.clock = clock  # epoch seconds (a test may move it)

    async def allow(self, definition: DefinitionRecord, trigger: Mapping[str, Any]) -> bool:
        limit = rate_limit_of(trigger)
        if limit is None:
            return True
        most, window = limit
        return await self._states.hit(definition.owner_key, definition.job_type, str(trigger.get("name")),
                                      str(trigger.get("type") or "").lower(), most=most, window=window,
                                      now=self.clock())
