"""The registry feed: the insured-person registry sends people one at a time, with the
same fields and rules as ``import-people`` (it owns identity, region, type and amount)."""

from __future__ import annotations

from typing import ClassVar

from api.base import BaseHandler, HandlerKind, Route
from api.openapi import Operation
from people import service as registry
from people.model import InvalidIdNumber, InvalidPerson

_STR = {"type": "string"}
_ROW = {"type": "object", "required": ["id_number", "name", "region_code", "person_type"],
        "properties": {name: _STR for name in registry.CSV_COLUMNS}}


class RegistryPersonHandler(BaseHandler):
    kind = HandlerKind.SERVICE
    service_scope = "registry.feed"
    protected_fields = frozenset()  # the registry owns regions
    openapi: ClassVar = {"post": Operation(
        "registry_person", ("机构接口",), {200: ("已登记（created / updated / unchanged）",
                                               {"type": "object"})},
        request_schema=_ROW, errors=(InvalidPerson, InvalidIdNumber))}

    async def post(self) -> None:
        body = self.json_body()
        row = {name: str(value) for name, value in body.items()
               if name in registry.CSV_COLUMNS and isinstance(value, str | int)
               and not isinstance(value, bool)}
        person, outcome = await registry.feed_person(
            row, people=self.deps.people, clock=self.deps.clock,
            hooks=self.deps.registry_hooks, source=f"registry:{self.me.subject}")
        self.write_json(200, {"person_id": person.person_id, "outcome": outcome})


routes: list[Route] = [(r"/v1/registry/people", RegistryPersonHandler)]
