"""The texts a person reads before acting, served by the server that checks them: the
face-check notice (人脸识别告知书) and the cross-region filing guide with its commitment
letter (承诺书). A client shows these and sends back the version it showed."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from api.contract import ResponseModel
from medical_insurance.model import Category


class ConsentNotice(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "version": "2026-01", "title": "人脸识别告知书",
        "paragraphs": ["为了确认您本人健在、可以继续领取养老金，认证时要比对您的脸和登记的照片。"],
        "purpose": "养老金领取资格认证的人脸比对", "retention": "认证有效期内及其后 30 天；撤回即删除",
        "other_routes": "其他认证方式：到社保经办网点现场认证、预约工作人员上门认证，或由家属代为认证。"}]})

    version: str = Field(description="告知书版本：同意时原样带回（notice_version）")
    title: str
    paragraphs: list[str] = Field(description="逐段显示的告知内容")
    purpose: str = Field(description="处理目的")
    retention: str = Field(description="保存期限")
    other_routes: str = Field(description="不用人脸的其他认证方式")


class CommitmentLetter(ResponseModel):
    version: str = Field(description="承诺书版本：备案时原样带回（commitment.version）")
    title: str
    paragraphs: list[str]


class FilingField(ResponseModel):
    field: str = Field(description="备案请求里的字段名")
    label: str
    placeholder: str
    required: bool = Field(description="false：可以不填（转诊没有转诊证明编号时备案等待审核）")


class FilingCategoryGuide(ResponseModel):
    category: Category
    name: str
    who: str = Field(description="适用的人，用大白话说")
    long_term: bool = Field(description="长期备案（true）或临时备案（false）")
    commitment: bool = Field(description="需要签个人承诺书")
    pensioners_only: bool = Field(description="只有领取养老金的人可以选")
    fields: list[FilingField] = Field(description="除参保人、目的地和开始日期外要填的内容")


class FilingGuide(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "categories": [{"category": "temporary_trip", "name": "其他临时外出",
                        "who": "出门探亲、旅游等临时在外地，可能要看病", "long_term": False,
                        "commitment": True, "pensioners_only": False, "fields": []}],
        "commitment": {"version": "2026-01", "title": "个人承诺书",
                       "paragraphs": ["本人承诺：所填写的异地居住、工作或外出情况真实。"]},
        "temporary_months": 6}]})

    categories: list[FilingCategoryGuide] = Field(description="备案类别（医保发〔2022〕22号）")
    commitment: CommitmentLetter
    temporary_months: int = Field(description="临时备案的有效月数")
