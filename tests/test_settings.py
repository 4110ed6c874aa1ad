"""Settings: fail fast outside dev on missing or placeholder secrets."""

from __future__ import annotations

import base64
import json
import os

import pytest

from common.settings import Settings, SettingsError, _new_p256_pem

KEY = base64.b64encode(os.urandom(32)).decode()


def production_env(**overrides: str) -> dict[str, str]:
    env = {
        "APP_ENV": "prod",
        "MONGODB_URI": "mongodb://db1,db2,db3/?replicaSet=rs0",
        "JWT_SIGNING_KEYS": json.dumps([{"kid": "2026-11", "pem": _new_p256_pem()}]),
        "DOCUMENT_SIGNING_KEYS": json.dumps([{"kid": "doc-2026-11", "pem": _new_p256_pem()}]),
        "WECHAT_APPID": "wx8a1b2c3d4e5f6a7b",
        "WECHAT_SECRET": "3f9c2d7e8a1b4c5d6e7f8a9b0c1d2e3f",
        "ALIYUN_ACCESS_KEY_ID": "LTAI5tQ8x7Zk2mN4pR6sT9uV",
        "ALIYUN_ACCESS_KEY_SECRET": "q8W3e5R7t9Y1u3I5o7P9a1S3d5F7g9",
        "FACE_TEMPLATE_KEY": KEY,
        "OTP_PEPPER": "b7c1e9f04a2d4c6e8f1a3b5c7d9e0f21",
        "CERTIFICATE_KEY": "4c2a9e7f1b3d5c8a0e6f2b4d7a9c1e3f",
        "TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.5",
        "JWT_ISSUER": "https://12333.nmgrs.gov.cn",
    }
    env.update(overrides)
    return env


def test_a_complete_production_environment_loads():
    settings = Settings.from_env(production_env())
    assert settings.app_env == "prod" and not settings.is_dev
    assert settings.jwt_signing_keys[0].kid == "2026-11"
    assert len(settings.trusted_proxies) == 2
    assert "3f9c2d7e" not in repr(settings)  # secrets stay out of logs and tracebacks


def test_app_env_defaults_to_production_so_a_forgotten_variable_fails_safe():
    with pytest.raises(SettingsError, match="MONGODB_URI is required"):
        Settings.from_env({})


@pytest.mark.parametrize("name", ["WECHAT_SECRET", "ALIYUN_ACCESS_KEY_SECRET",
                                  "FACE_TEMPLATE_KEY", "JWT_SIGNING_KEYS", "DOCUMENT_SIGNING_KEYS",
                                  "MONGODB_URI"])
def test_each_missing_secret_is_named(name):
    env = production_env()
    del env[name]
    with pytest.raises(SettingsError, match=name):
        Settings.from_env(env)


@pytest.mark.parametrize("value", ["changeme", "<wechat-secret>", "your-secret-here",
                                   "dev-only-wechat-secret", "  "])
def test_placeholder_secrets_are_refused(value):
    with pytest.raises(SettingsError, match="WECHAT_SECRET"):
        Settings.from_env(production_env(WECHAT_SECRET=value))


def test_bad_values_are_explained():
    with pytest.raises(SettingsError, match="FACE_TEMPLATE_KEY must decode to 32 bytes"):
        Settings.from_env(production_env(FACE_TEMPLATE_KEY=base64.b64encode(b"short").decode()))
    with pytest.raises(SettingsError, match="EC P-256"):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()).decode()
        Settings.from_env(production_env(JWT_SIGNING_KEYS=json.dumps([{"kid": "a", "pem": pem}])))
    with pytest.raises(SettingsError, match="TRUSTED_PROXIES"):
        Settings.from_env(production_env(TRUSTED_PROXIES="not-an-ip"))
    with pytest.raises(SettingsError, match="PORT"):
        Settings.from_env(production_env(PORT="eighty"))


def test_dev_runs_on_defaults_with_the_embedded_database():
    settings = Settings.from_env({"APP_ENV": "dev"})
    assert settings.uses_embedded_db
    assert settings.port == 8000
    assert len(settings.face_template_key) == 32
    assert settings.max_json_body_bytes == 64 * 1024


DEV_FACE_KEY = Settings.from_env({"APP_ENV": "dev"}).face_template_key
GOOD = production_env()
# (what is weak, the variable the refusal must name, the overrides that make it weak)
WEAK_CONFIGURATIONS = [
    ("the dev face key", "FACE_TEMPLATE_KEY",
     {"FACE_TEMPLATE_KEY": base64.b64encode(DEV_FACE_KEY).decode()}),
    ("an all-zero face key", "FACE_TEMPLATE_KEY",
     {"FACE_TEMPLATE_KEY": base64.b64encode(bytes(32)).decode()}),
    ("the dev app id", "WECHAT_APPID", {"WECHAT_APPID": "wx-dev-appid"}),
    ("the dev access key id", "ALIYUN_ACCESS_KEY_ID", {"ALIYUN_ACCESS_KEY_ID": "LTAIdevonly"}),
    ("a one-character pepper", "OTP_PEPPER", {"OTP_PEPPER": "x"}),
    ("a six-digit certificate key", "CERTIFICATE_KEY", {"CERTIFICATE_KEY": "123456"}),
    ("a repeated pattern", "CERTIFICATE_KEY", {"CERTIFICATE_KEY": "abcd" * 10}),
    ("a low-entropy secret", "WECHAT_SECRET", {"WECHAT_SECRET": "aaaaaaaaaabbbbbbbbbbccccccccccdd"}),
    ("one value for two secrets", "CERTIFICATE_KEY",
     {"CERTIFICATE_KEY": GOOD["OTP_PEPPER"]}),
    ("the example.cn issuer", "JWT_ISSUER", {"JWT_ISSUER": "https://12333.nmg.example.cn"}),
    ("a plain-http issuer", "JWT_ISSUER", {"JWT_ISSUER": "http://12333.nmgrs.gov.cn"}),
    ("no issuer at all", "JWT_ISSUER", {"JWT_ISSUER": ""}),
    ("an http WeChat endpoint", "WECHAT_BASE_URL", {"WECHAT_BASE_URL": "http://api.weixin.qq.com"}),
    ("the WeChat stand-in", "WECHAT_BASE_URL", {"WECHAT_BASE_URL": "https://127.0.0.1:8101"}),
    ("an http Aliyun endpoint", "ALIYUN_SMS_ENDPOINT",
     {"ALIYUN_SMS_ENDPOINT": "http://dysmsapi.aliyuncs.com"}),
    ("a localhost Aliyun endpoint", "ALIYUN_SMS_ENDPOINT",
     {"ALIYUN_SMS_ENDPOINT": "https://localhost:8102"}),
    ("the dev WeChat secret", "WECHAT_SECRET", {"WECHAT_SECRET": "dev-only-wechat-secret"}),
    ("a short Aliyun secret", "ALIYUN_ACCESS_KEY_SECRET",
     {"ALIYUN_ACCESS_KEY_SECRET": "q8W3e5R7t9Y1"}),
]


@pytest.mark.parametrize(("what", "variable", "overrides"), WEAK_CONFIGURATIONS,
                         ids=[w[0] for w in WEAK_CONFIGURATIONS])
def test_production_refuses_weak_settings_and_names_the_variable(what, variable, overrides):
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env(production_env(**overrides))


def test_fixed_face_actions_are_for_dev_and_test_only():
    assert Settings.from_env({"APP_ENV": "test", "FACE_FIXED_ACTIONS": "turn_left,blink"}
                             ).face_fixed_actions == ("turn_left", "blink")
    with pytest.raises(SettingsError, match="FACE_FIXED_ACTIONS"):
        Settings.from_env(production_env(FACE_FIXED_ACTIONS="turn_left,blink"))
    with pytest.raises(SettingsError, match="head turn"):  # every challenge has one
        Settings.from_env({"APP_ENV": "test", "FACE_FIXED_ACTIONS": "blink,open_mouth"})
    with pytest.raises(SettingsError, match="FACE_FIXED_ACTIONS"):
        Settings.from_env({"APP_ENV": "test", "FACE_FIXED_ACTIONS": "wink"})


def test_the_worker_metrics_port_is_a_setting():
    assert Settings.from_env(production_env(WORKER_METRICS_PORT="9188")).worker_metrics_port \
        == 9188
    assert Settings.from_env(production_env()).worker_metrics_port is None
    with pytest.raises(SettingsError, match="WORKER_METRICS_PORT"):
        Settings.from_env(production_env(WORKER_METRICS_PORT="many"))


def test_the_compose_file_names_every_part_of_production():
    import yaml

    from tests.conftest import ROOT
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert {"mongo1", "mongo2", "mongo3", "mongo-init", "api", "worker", "nginx",
            "prometheus"} <= set(services)
    assert "replicaSet=rs0" in services["api"]["environment"]["MONGODB_URI"]
    assert services["api"]["environment"]["APP_ENV"] == "prod"
    assert services["worker"]["environment"]["WORKER_METRICS_PORT"]
    nginx = (ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    assert "server api:8000" in nginx and "X-Forwarded-For" in nginx


def test_the_dev_document_key_is_refused_in_production():
    dev_key = Settings.from_env({"APP_ENV": "dev"}).document_signing_keys[0].private_key_pem
    with pytest.raises(SettingsError, match="DOCUMENT_SIGNING_KEYS"):
        Settings.from_env(production_env(
            DOCUMENT_SIGNING_KEYS=json.dumps([{"kid": "x", "pem": dev_key}])))
