"""One frozen ``Settings`` read from the environment.

Outside ``APP_ENV=dev``/``test`` a missing or placeholder secret stops start-up
with a message naming the variable: a production process must never run on a
development key.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import ipaddress
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from common.secret_policy import (
    IDENTIFIERS,
    SECRET_MINIMUMS,
    WeakSetting,
    check_distinct,
    check_endpoint,
    check_face_key,
    check_identifier,
    check_secret,
)

AppEnv = Literal["dev", "test", "prod"]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEV_ENVS: frozenset[str] = frozenset({"dev", "test"})

# Values that betray a template or an example rather than a real secret.
_PLACEHOLDER_MARKERS = (
    "changeme", "change-me", "change_me", "placeholder", "replace", "todo", "xxx",
    "example", "dummy", "your-", "your_", "dev-only", "insecure",
)


class SettingsError(RuntimeError):
    """The environment cannot make a valid configuration; the message says which variable."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key_pem: str = field(repr=False)


@dataclass(frozen=True)
class Settings:
    app_env: AppEnv
    mongodb_uri: str | None  # None: dev/test start the embedded devdb
    mongodb_db: str
    port: int
    # JWT signing keys, newest (active) first; older ones only verify.
    jwt_signing_keys: tuple[SigningKey, ...] = field(repr=False)
    jwt_issuer: str
    wechat_base_url: str
    wechat_timeout_seconds: int  # a WeChat call that takes longer answers 503 (try again)
    wechat_appid: str
    wechat_secret: str = field(repr=False)
    aliyun_sms_endpoint: str
    aliyun_access_key_id: str
    aliyun_access_key_secret: str = field(repr=False)
    aliyun_sms_sign_name: str
    face_template_key: bytes = field(repr=False)  # AES-256-GCM key, 32 bytes
    otp_pepper: bytes = field(repr=False)  # HMAC key for SMS codes stored as hashes
    certificate_key: bytes = field(repr=False)  # signs the codes on filing certificates
    # ES256 keys for the codes printed on documents (proof of insurance), active first;
    # apart from the JWT keys, and stable across restarts: paper lives for 90 days.
    document_signing_keys: tuple[SigningKey, ...] = field(repr=False)
    max_json_body_bytes: int
    max_upload_body_bytes: int
    trusted_proxies: tuple[IPNetwork, ...]
    face_match_threshold: float
    face_one_to_many_threshold: float
    face_daily_attempts: int
    # Liveness thresholds (python -m pension_cert.calibrate liveness prints them).
    face_blink_ratio: float
    face_mouth_open: float
    face_turn_yaw: float
    face_identity_tolerance: float
    face_replay_days: int
    face_pool_workers: int  # 0: cores - 1
    face_pool_queue: int
    face_dead_retention_days: int  # templates are deleted this long after validity or death
    audit_retention_days: int  # never below 180 (网络安全法 Art. 21)
    card_temp_loss_days: int  # working days before a temporary loss lifts itself
    filing_temporary_months: int
    filing_change_lock_months: int  # 0: long-term filings may change at any time
    cert_cycle_rules: str | None  # JSON; None: the built-in rules of the domain rules §1
    quiet_hours: tuple[time, time]  # non-urgent messages wait from the first to the second
    outbox_max_attempts: int
    log_level: str
    data_dir: str  # where dev runs keep the embedded database and other local state
    worker_metrics_port: int | None  # a standalone worker serves /metrics here
    # dev/test only: every face challenge asks for these actions (so a recorded clip can
    # answer it in browser and multi-process tests); refused in production
    face_fixed_actions: tuple[str, ...] | None = None

    @property
    def is_dev(self) -> bool:
        return self.app_env in DEV_ENVS

    @property
    def uses_embedded_db(self) -> bool:
        return self.mongodb_uri is None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        return _load(os.environ if environ is None else environ)


# Every value dev and test run on by default: none of them may reach production.
DEV_DEFAULTS = {
    "WECHAT_APPID": "wx-dev-appid",
    "WECHAT_SECRET": "dev-only-wechat-secret",
    "ALIYUN_ACCESS_KEY_ID": "LTAIdevonly",
    "ALIYUN_ACCESS_KEY_SECRET": "dev-only-aliyun-secret",
    "OTP_PEPPER": "dev-only-otp-pepper",
    "CERTIFICATE_KEY": "dev-only-certificate-key",
    "FACE_TEMPLATE_KEY": base64.b64encode(
        hashlib.sha256(b"dev-only face template key").digest()).decode(),
    "JWT_ISSUER": "https://12333.nmg.example.cn",
}
PROD_WECHAT_BASE_URL = "https://api.weixin.qq.com"


def _load(env: Mapping[str, str]) -> Settings:
    app_env = env.get("APP_ENV", "prod").strip().lower()
    if app_env not in ("dev", "test", "prod"):
        raise SettingsError(f"APP_ENV must be dev, test or prod, not {app_env!r}")
    dev = app_env in DEV_ENVS
    settings = _read(env, dev, app_env)
    if not dev:
        try:
            _check_production(settings, env)
        except WeakSetting as weak:
            raise SettingsError(weak.detail) from None
    return settings


def _check_production(settings: Settings, env: Mapping[str, str]) -> None:
    for name in IDENTIFIERS:
        check_identifier(name, env.get(name, "").strip())
    secrets = {name: env.get(name, "").strip() for name in SECRET_MINIMUMS}
    for name, value in secrets.items():
        check_secret(name, value)
    check_face_key(settings.face_template_key)
    for name, value in (("JWT_ISSUER", settings.jwt_issuer),
                        ("WECHAT_BASE_URL", settings.wechat_base_url),
                        ("ALIYUN_SMS_ENDPOINT", settings.aliyun_sms_endpoint)):
        check_endpoint(name, value)
    check_distinct({**secrets, "FACE_TEMPLATE_KEY": env.get("FACE_TEMPLATE_KEY", "").strip(),
                    **{f"JWT_SIGNING_KEYS[{k.kid}]": k.private_key_pem.strip()
                       for k in settings.jwt_signing_keys},
                    **{f"DOCUMENT_SIGNING_KEYS[{k.kid}]": k.private_key_pem.strip()
                       for k in settings.document_signing_keys}}, DEV_DEFAULTS)
    if any(k.private_key_pem == _dev_document_pem() for k in settings.document_signing_keys):
        raise WeakSetting("DOCUMENT_SIGNING_KEYS holds the dev-only key: generate a new one")


def _read(env: Mapping[str, str], dev: bool, app_env: str) -> Settings:
    secrets = _SecretReader(env, dev)
    mongodb_uri = env.get("MONGODB_URI", "").strip() or None
    if mongodb_uri is None and not dev:
        raise SettingsError("MONGODB_URI is required outside APP_ENV=dev/test")
    if not dev and not env.get("JWT_ISSUER", "").strip():
        raise SettingsError("JWT_ISSUER is required outside APP_ENV=dev/test (an https URL "
                            "naming this service)")

    return Settings(
        app_env=app_env,  # type: ignore[arg-type]
        mongodb_uri=mongodb_uri,
        mongodb_db=env.get("MONGODB_DB", "nm12333").strip() or "nm12333",
        port=_int(env, "PORT", 8000, low=1, high=65535),
        jwt_signing_keys=_signing_keys(env, dev),
        document_signing_keys=_signing_keys(env, dev, "DOCUMENT_SIGNING_KEYS"),
        jwt_issuer=env.get("JWT_ISSUER", DEV_DEFAULTS["JWT_ISSUER"]).strip(),
        wechat_timeout_seconds=_int(env, "WECHAT_TIMEOUT_SECONDS", 10, low=1, high=60),
        wechat_base_url=env.get("WECHAT_BASE_URL", "http://127.0.0.1:8101" if dev
                                else PROD_WECHAT_BASE_URL).strip().rstrip("/"),
        wechat_appid=secrets.plain("WECHAT_APPID", dev_default=DEV_DEFAULTS["WECHAT_APPID"]),
        wechat_secret=secrets.secret("WECHAT_SECRET",
                                     dev_default=DEV_DEFAULTS["WECHAT_SECRET"]),
        aliyun_sms_endpoint=env.get("ALIYUN_SMS_ENDPOINT",
                                    "http://127.0.0.1:8102" if dev else "https://dysmsapi.aliyuncs.com"
                                    ).strip(),
        aliyun_access_key_id=secrets.plain("ALIYUN_ACCESS_KEY_ID",
                                           dev_default=DEV_DEFAULTS["ALIYUN_ACCESS_KEY_ID"]),
        aliyun_access_key_secret=secrets.secret(
            "ALIYUN_ACCESS_KEY_SECRET", dev_default=DEV_DEFAULTS["ALIYUN_ACCESS_KEY_SECRET"]),
        aliyun_sms_sign_name=env.get("ALIYUN_SMS_SIGN_NAME", "内蒙古人社").strip(),
        face_template_key=_face_key(secrets),
        otp_pepper=secrets.secret("OTP_PEPPER", dev_default=DEV_DEFAULTS["OTP_PEPPER"]).encode(),
        certificate_key=secrets.secret("CERTIFICATE_KEY",
                                       dev_default=DEV_DEFAULTS["CERTIFICATE_KEY"]).encode(),
        card_temp_loss_days=_int(env, "CARD_TEMP_LOSS_WORKING_DAYS", 15, low=1, high=60),
        filing_temporary_months=_int(env, "FILING_TEMPORARY_MONTHS", 6, low=1, high=24),
        filing_change_lock_months=_int(env, "FILING_CHANGE_LOCK_MONTHS", 6, low=0, high=24),
        max_json_body_bytes=_int(env, "MAX_JSON_BODY_BYTES", 64 * 1024, low=1024),
        max_upload_body_bytes=_int(env, "MAX_UPLOAD_BODY_BYTES", 10 * 1024 * 1024, low=1024),
        trusted_proxies=_networks(env.get("TRUSTED_PROXIES", "")),
        face_match_threshold=_float(env, "FACE_MATCH_THRESHOLD", 0.5),
        face_one_to_many_threshold=_float(env, "FACE_ONE_TO_MANY_THRESHOLD", 0.4),
        face_daily_attempts=_int(env, "FACE_DAILY_ATTEMPTS", 5, low=1, high=50),
        face_blink_ratio=_float(env, "FACE_BLINK_RATIO", 0.75),
        face_mouth_open=_float(env, "FACE_MOUTH_OPEN", 0.44),
        face_turn_yaw=_float(env, "FACE_TURN_YAW", 0.075),
        face_identity_tolerance=_float(env, "FACE_IDENTITY_TOLERANCE", 0.6),
        face_replay_days=_int(env, "FACE_REPLAY_DAYS", 365, low=1, high=3650),
        face_pool_workers=_int(env, "FACE_POOL_WORKERS", 0, low=0, high=64),
        face_pool_queue=_int(env, "FACE_POOL_QUEUE", 4, low=0, high=1000),
        face_dead_retention_days=_int(env, "FACE_DEAD_RETENTION_DAYS", 30, low=0, high=3650),
        audit_retention_days=_int(env, "AUDIT_RETENTION_DAYS", 3 * 365, low=180, high=36500),
        cert_cycle_rules=env.get("CERT_CYCLE_RULES", "").strip() or None,
        quiet_hours=_quiet_hours(env.get("QUIET_HOURS", "21:00-08:00")),
        outbox_max_attempts=_int(env, "OUTBOX_MAX_ATTEMPTS", 8, low=1, high=100),
        log_level=env.get("LOG_LEVEL", "INFO").strip().upper() or "INFO",
        data_dir=env.get("DATA_DIR", "var").strip() or "var",
        worker_metrics_port=_int(env, "WORKER_METRICS_PORT", 0, low=0, high=65535) or None,
        face_fixed_actions=_fixed_actions(env, dev),
    )


FACE_ACTIONS = ("blink", "open_mouth", "turn_left", "turn_right")


def _fixed_actions(env: Mapping[str, str], dev: bool) -> tuple[str, ...] | None:
    raw = env.get("FACE_FIXED_ACTIONS", "").strip()
    if not raw:
        return None
    if not dev:
        raise SettingsError("FACE_FIXED_ACTIONS is for APP_ENV=dev/test only: in production "
                            "every challenge's actions are random")
    actions = tuple(a.strip() for a in raw.split(",") if a.strip())
    if not actions or not set(actions) <= set(FACE_ACTIONS) or len(set(actions)) != len(
            actions):
        raise SettingsError(f"FACE_FIXED_ACTIONS is a list of distinct actions from "
                            f"{', '.join(FACE_ACTIONS)}")
    if not {"turn_left", "turn_right"} & set(actions):
        raise SettingsError("FACE_FIXED_ACTIONS needs a head turn: every challenge has one")
    return actions


def is_placeholder(value: str) -> bool:
    lowered = value.strip().lower()
    if not lowered:
        return True
    if lowered.startswith("<") and lowered.endswith(">"):
        return True
    return any(marker in lowered for marker in _PLACEHOLDER_MARKERS)


class _SecretReader:
    """Reads credentials: defaults in dev, and a clear refusal of placeholders elsewhere."""

    def __init__(self, env: Mapping[str, str], dev: bool) -> None:
        self._env = env
        self._dev = dev

    def secret(self, name: str, *, dev_default: str) -> str:
        value = self._env.get(name, "").strip()
        if self._dev:
            return value or dev_default
        if not value:
            raise SettingsError(f"{name} is required outside APP_ENV=dev/test")
        if is_placeholder(value):
            raise SettingsError(f"{name} still holds a placeholder value; set the real secret")
        return value

    def plain(self, name: str, *, dev_default: str) -> str:
        # Identifiers (app id, access-key id) are not secret but must be real in production.
        return self.secret(name, dev_default=dev_default)


def _int(env: Mapping[str, str], name: str, default: int, *, low: int = 0,
         high: int | None = None) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, not {raw!r}") from None
    if value < low or (high is not None and value > high):
        raise SettingsError(f"{name}={value} is out of range")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise SettingsError(f"{name} must be a number, not {raw!r}") from None
    if not 0 < value < 2:
        raise SettingsError(f"{name}={value} is out of range")
    return value


def _quiet_hours(raw: str) -> tuple[time, time]:
    start, _, end = raw.partition("-")
    try:
        return time.fromisoformat(start.strip()), time.fromisoformat(end.strip())
    except ValueError:
        raise SettingsError(f"QUIET_HOURS must look like 21:00-08:00, not {raw!r}") from None


def _networks(raw: str) -> tuple[IPNetwork, ...]:
    networks = []
    for item in raw.replace(" ", "").split(","):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise SettingsError(f"TRUSTED_PROXIES has an invalid address {item!r}") from None
    return tuple(networks)


def _face_key(secrets: _SecretReader) -> bytes:
    # The dev key is derived, not random, so templates stored by one dev run
    # still decrypt in the next.
    raw = secrets.secret("FACE_TEMPLATE_KEY", dev_default=DEV_DEFAULTS["FACE_TEMPLATE_KEY"])
    try:
        key = base64.b64decode(raw, validate=True)
    except ValueError:
        raise SettingsError("FACE_TEMPLATE_KEY must be base64") from None
    if len(key) != 32:
        raise SettingsError("FACE_TEMPLATE_KEY must decode to 32 bytes (AES-256-GCM)")
    return key


def _signing_keys(env: Mapping[str, str], dev: bool,
                  name: str = "JWT_SIGNING_KEYS") -> tuple[SigningKey, ...]:
    """``JWT_SIGNING_KEYS`` (or ``DOCUMENT_SIGNING_KEYS``): a JSON list of ``{"kid",
    "pem"}``, the active key first."""
    raw = env.get(name, "").strip()
    if not raw:
        if not dev:
            raise SettingsError(f"{name} is required outside APP_ENV=dev/test")
        if name == "DOCUMENT_SIGNING_KEYS":
            # One fixed dev key: a printed dev document still verifies after a restart.
            return (SigningKey(kid="dev-documents", private_key_pem=_dev_document_pem()),)
        # A fresh key per dev process: dev tokens simply end with the process.
        return (SigningKey(kid="dev", private_key_pem=_new_p256_pem()),)
    try:
        items = json.loads(raw)
        keys = tuple(SigningKey(kid=str(i["kid"]), private_key_pem=str(i["pem"])) for i in items)
    except (ValueError, TypeError, KeyError):
        raise SettingsError(f'{name} must be a JSON list of {{"kid", "pem"}}') from None
    if not keys:
        raise SettingsError(f"{name} is empty")
    if len({k.kid for k in keys}) != len(keys):
        raise SettingsError(f"{name} has a repeated kid")
    for key in keys:
        _check_p256(key)
    return keys


def _check_p256(key: SigningKey) -> None:
    try:
        private = serialization.load_pem_private_key(key.private_key_pem.encode(), password=None)
    except ValueError:
        raise SettingsError(f"JWT signing key {key.kid!r} is not a PEM private key") from None
    if not (isinstance(private, ec.EllipticCurvePrivateKey)
            and isinstance(private.curve, ec.SECP256R1)):
        raise SettingsError(f"JWT signing key {key.kid!r} must be an EC P-256 key (ES256)")


@functools.cache
def _dev_document_pem() -> str:
    """The dev-only document key, derived from a public string: never valid in production."""
    scalar = int.from_bytes(hashlib.sha256(b"nm12333 dev-only document key").digest())
    private = ec.derive_private_key(scalar % (2**255), ec.SECP256R1())
    return private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()


def _new_p256_pem() -> str:
    private = ec.generate_private_key(ec.SECP256R1())
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
