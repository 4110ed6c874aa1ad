"""Operations answers."""

from __future__ import annotations

from pydantic import ConfigDict

from api.contract import ResponseModel


class Health(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: str


class Ready(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ready"}]})

    status: str
