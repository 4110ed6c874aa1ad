"""A small reference list of card service points (社保卡服务网点), per league."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServicePoint:
    point_id: str
    name: str
    address: str
    region_code: str


SERVICE_POINTS: tuple[ServicePoint, ...] = (
    ServicePoint("SP150100A", "呼和浩特市社保卡服务中心", "呼和浩特市新城区", "150102"),
    ServicePoint("SP150100B", "呼和浩特市赛罕区社保卡网点", "呼和浩特市赛罕区", "150105"),
    ServicePoint("SP150200A", "包头市社保卡服务中心", "包头市昆都仑区", "150203"),
    ServicePoint("SP150300A", "乌海市社保卡服务网点", "乌海市海勃湾区", "150302"),
    ServicePoint("SP150400A", "赤峰市社保卡服务中心", "赤峰市红山区", "150402"),
    ServicePoint("SP150500A", "通辽市社保卡服务中心", "通辽市科尔沁区", "150502"),
    ServicePoint("SP150600A", "鄂尔多斯市社保卡服务中心", "鄂尔多斯市东胜区", "150602"),
    ServicePoint("SP150700A", "呼伦贝尔市社保卡服务中心", "呼伦贝尔市海拉尔区", "150702"),
    ServicePoint("SP150800A", "巴彦淖尔市社保卡服务中心", "巴彦淖尔市临河区", "150802"),
    ServicePoint("SP150900A", "乌兰察布市社保卡服务中心", "乌兰察布市集宁区", "150902"),
    ServicePoint("SP152200A", "兴安盟社保卡服务中心", "兴安盟乌兰浩特市", "152201"),
    ServicePoint("SP152500A", "锡林郭勒盟社保卡服务中心", "锡林郭勒盟锡林浩特市", "152502"),
    ServicePoint("SP152900A", "阿拉善盟社保卡服务中心", "阿拉善盟阿拉善左旗", "152921"),
)


def by_id(point_id: str) -> ServicePoint | None:
    return next((p for p in SERVICE_POINTS if p.point_id == point_id), None)


def in_region(prefix: str) -> list[ServicePoint]:
    return [p for p in SERVICE_POINTS if p.region_code.startswith(prefix)]
