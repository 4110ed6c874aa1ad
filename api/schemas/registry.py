"""The registry feed and the institutions' person check."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from api.contract import RequestModel, ResponseModel

_EXAMPLE_ROW: Any = {"id_number": "150102195003040117", "name": "张建国", "phone": "13812345678",
                "region_code": "150102", "person_type": "retiree",
                "lives_outside_region": "false", "monthly_pension_fen": "356000",
                "prison_periods": "", "death_date": "", "first_payment_date": ""}


class RegistryRow(RequestModel):
    """One person as the registry holds them: the same fields as an import-people row.
    Values are text, as in the CSV; the registry's rules check each."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE_ROW]})

    id_number: str = Field(min_length=15, max_length=18, description="公民身份号码")
    name: str = Field(min_length=1, max_length=30)
    region_code: str = Field(pattern=r"^\d{6}$", description="参保地行政区划代码")
    person_type: Literal["retiree", "survivor", "employee", "resident"]
    phone: str = Field("", max_length=20)
    lives_outside_region: str = Field("", max_length=5, description="true/false：居住在区外")
    monthly_pension_fen: str | int = Field("", description="月养老金（分）")
    prison_periods: str = Field("", max_length=500, description="如 2019-03-01..2021-02-28")
    death_date: str = Field("", max_length=10, description="登记机关报告的死亡日期；"
                                                            "只作为死亡信息上报，不会清除")
    first_payment_date: str = Field("", max_length=10, description="新退休人员首次发放日期")
    sex: str = Field("", max_length=1)
    birth_date: str = Field("", max_length=10)

    def as_row(self) -> dict[str, str]:
        return {name: str(value) for name, value in self.model_dump().items()}


class Registered(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"person_id": "P3f9c2d7e8a1b4c5d6e7f", "outcome": "created"}]})

    person_id: str
    outcome: Literal["created", "updated", "unchanged"]


class InsuredCheck(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id_number": "150102195003040117", "name": "张建国"}]})

    id_number: str = Field(min_length=1, max_length=18)
    name: str = Field(min_length=1, max_length=30)


class InsuredAnswer(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"insured": True, "region_code": "150102"}]})

    insured: bool
    region_code: str | None
