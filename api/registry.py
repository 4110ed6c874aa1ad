"""The registry feed (the insured-person registry sends people one at a time, with the
same fields and rules as ``import-people``) and the institutions' person check."""

from __future__ import annotations

from typing import ClassVar

from api.base import BaseHandler, HandlerKind, Route
from api.contract import Operation, Resp
from api.schemas.registry import InsuredAnswer, InsuredCheck, Registered, RegistryRow
from auth.model import Forbidden
from people import service as registry
from people.model import InvalidIdNumber, InvalidPerson
from people.service import RegistryContext

TAG = ("机构接口",)


class RegistryPersonHandler(BaseHandler):
    kind = HandlerKind.SERVICE
    service_scope = "registry.feed"
    protected_fields = frozenset()  # the registry owns regions
    ctx: RegistryContext
    openapi: ClassVar = {"post": Operation(
        "registry_person", "参保登记推送", "参保登记系统逐人推送：新增、更新或无变化；"
        "只写登记信息，不会改动暂停发放或已记录的死亡。", TAG,
        {200: Resp("已登记", Registered)}, body=RegistryRow,
        errors=(InvalidPerson, InvalidIdNumber), invalid=InvalidPerson)}

    async def post(self) -> Registered:
        row = self.body(RegistryRow)
        person, outcome = await registry.feed_person(
            row.as_row(), source=f"registry:{self.me.subject}", ctx=self.ctx)
        return Registered.model_validate({"person_id": person.person_id, "outcome": outcome})


class ServicePersonCheckHandler(BaseHandler):
    """For institutions: is this ID number and name an insured person here?"""

    kind = HandlerKind.SERVICE
    service_scope = "people.verify"
    ctx: RegistryContext
    openapi: ClassVar = {"post": Operation(
        "service_person_check", "参保身份核验", "机构核验身份证号与姓名是否为本地参保人员。",
        TAG, {200: Resp("核验结果", InsuredAnswer)}, body=InsuredCheck, errors=(Forbidden,))}

    async def post(self) -> InsuredAnswer:
        check = self.body(InsuredCheck)
        person = await registry.verify_insured(check.id_number, check.name, ctx=self.ctx)
        return InsuredAnswer(insured=person is not None,
                             region_code=person.region_code if person else None)


routes: list[Route] = [
    (r"/v1/registry/people", RegistryPersonHandler, {"context": "registry"}),
    (r"/v1/service/people/verify", ServicePersonCheckHandler, {"context": "registry"}),
]
