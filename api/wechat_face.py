"""The mini-program's face check through WeChat (人脸核身 2.0): start, then the result.

    POST /v1/pension/wechat-face                      -> check_id, verify_id
    wx.requestFacialVerify({verifyId})                (on the phone)
    POST /v1/pension/wechat-face/{check_id}/result    -> pass, or the reason
"""

from __future__ import annotations

from typing import ClassVar

from api.base import Route
from api.contract import Link, Operation, Reply, Resp
from api.pension import TAG, PensionHandler, outcome_view
from api.schemas.pension import CheckOutcome, WeChatFaceRequest, WeChatFaceStarted
from pension_cert import service as cert
from people.model import PersonNotFound


class WeChatFaceHandler(PensionHandler):
    openapi: ClassVar = {"post": Operation(
        "start_wechat_face", "发起微信人脸核身", "小程序里的人脸认证：服务端向微信申请 verify_id，"
        "交给 wx.requestFacialVerify；完成后查询结果。本人或有养老金认证授权的家属可发起；"
        "与动作认证合计每天 5 次。", TAG,
        {201: Resp("已向微信申请核身", WeChatFaceStarted)}, body=WeChatFaceRequest,
        idempotent_create=True,
        links={"result": Link("wechat_face_result", {"check_id": "$response.body#/check_id"},
                              "查询这次核身的结果")},
        errors=(cert.WrongFaceProvider, cert.FaceCheckIsSelfService, cert.AttemptsExhausted,
                cert.NotAPensioner, cert.CertificationBlocked, cert.WeChatFaceUnavailable,
                cert.ConsentRequired, PersonNotFound))}

    async def post(self) -> Reply:
        person_id = self.body(WeChatFaceRequest).person_id
        on_behalf = await self.allowed(person_id)

        async def start(seed: str) -> Reply:
            started = await cert.start_wechat_face(self.me, person_id, on_behalf=on_behalf,
                                                   check_id="WF" + seed[:20], ctx=self.ctx)
            return Reply(WeChatFaceStarted(check_id=started.check_id,
                                           verify_id=started.verify_id,
                                           expires_in=started.expires_in), 201)

        return await self.create_idempotently(start)


class WeChatFaceResultHandler(PensionHandler):
    openapi: ClassVar = {"post": Operation(
        "wechat_face_result", "微信人脸核身结果", "向微信查询核身结果（不采信页面上报的结果）："
        "通过即完成认证，渠道为微信人脸核身；不通过时给出原因和下一步建议。", TAG,
        {200: Resp("认证结果", CheckOutcome)}, empty_body=True,
        errors=(cert.ChallengeNotFound, cert.NonceExpired, cert.NonceUsed,
                cert.WeChatFaceNotFinished, cert.WeChatFaceUnavailable,
                cert.CertificationBlocked, PersonNotFound))}

    async def post(self, check_id: str) -> CheckOutcome:
        result = await cert.finish_wechat_face(self.me, check_id, ctx=self.ctx)
        return outcome_view(result, self.ctx.today())


routes: list[Route] = [
    (r"/v1/pension/wechat-face", WeChatFaceHandler, {"context": "cert"}),
    (r"/v1/pension/wechat-face/(?P<check_id>WF[A-Za-z0-9]+)/result", WeChatFaceResultHandler,
     {"context": "cert"}),
]
