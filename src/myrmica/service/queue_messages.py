"""A queue trigger's message made into a request (spec §2.8): the entry's ``message`` (or ``payload``)
field is ``.Message`` — parsed when it is JSON, else the text — and the other fields ``.Properties``; an
entry with neither field is itself the message. A message that is a JSON object gives its fields as
params, under the trigger's own ``params``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from myrmica.domain.records import DefinitionRecord
from myrmica.service.trigger_admin import event_data, event_params
from myrmica.service.trigger_fire import TriggerFirer

BODY_FIELDS = ("message", "payload")


def decode(fields: Mapping[str, str]) -> tuple[Any, dict[str, str]]:
    for name in BODY_FIELDS:
        if name in fields:
            text = fields[name]
            try:
                message: Any = json.loads(text)
            except ValueError:
                message = text
            return message, {k: v for k, v in fields.items() if k != name}
    return dict(fields), {}


class QueueMessages:
    def __init__(self, firer: TriggerFirer) -> None:
        self._firer = firer

    async def handle(self, definition: DefinitionRecord, trigger: dict[str, Any], entry_id: str,
                     fields: dict[str, str]) -> None:
        message, properties = decode(fields)
        await self._firer.fire(definition, trigger, event_data("queue", message, properties),
                               params=event_params("queue", message),
                               identity=f"queue:{trigger.get('topic')}:{entry_id}", kind="queue")
