"""Outside dev mode, settings refuse missing or placeholder secrets and name the variable."""

from __future__ import annotations

import pytest

from server.core.config import Mode, Settings, SettingsError


def prod(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "mode": Mode.PROD,
        "database_url": "postgres://dangqun@db/dangqun",
        "redis_url": "redis://cache:6379/0",
        "wechat_app_id": "wx5f1e2d3c4b5a6978",
        "wechat_app_secret": "9c1f0e8d7b6a54321f0e9d8c7b6a5432",
        "wechat_api_base": "https://api.weixin.qq.com",
        "wecom_corp_id": "ww1a2b3c4d5e6f7788",
        "wecom_corp_secret": "q8w7e6r5t4y3u2i1o0p9a8s7d6f5g4h3",
        "wecom_api_base": "https://qyapi.weixin.qq.com",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def test_dev_defaults_run_everything_embedded() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    settings.check_production_ready()
    assert settings.uses_sqlite and settings.uses_memory_redis
    assert settings.database_url == "sqlite://var/dangqun.sqlite3"
    assert settings.wechat_api_base == "http://127.0.0.1:8080/mock"
    assert settings.timezone == "Asia/Shanghai"


def test_complete_production_settings_pass() -> None:
    prod().check_production_ready()


@pytest.mark.parametrize(
    ("field", "value", "variable"),
    [
        ("wechat_app_secret", "", "DANGQUN_WECHAT_APP_SECRET"),
        ("wechat_app_secret", "wx-demo-secret", "DANGQUN_WECHAT_APP_SECRET"),
        ("wechat_app_id", "changeme", "DANGQUN_WECHAT_APP_ID"),
        ("wecom_corp_secret", "placeholder", "DANGQUN_WECOM_CORP_SECRET"),
        ("wechat_api_base", "", "DANGQUN_WECHAT_API_BASE"),
        ("redis_url", "memory://", "DANGQUN_REDIS_URL"),
    ],
)
def test_production_refuses_and_names_the_variable(field: str, value: str, variable: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        prod(**{field: value}).check_production_ready()


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DANGQUN_PORT", "9090")
    monkeypatch.setenv("DANGQUN_REDIS_URL", "redis://127.0.0.1:6379/3")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.port == 9090
    assert settings.redis_url == "redis://127.0.0.1:6379/3"
    assert settings.public_url == "http://127.0.0.1:9090"


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("", "未设置"),
        ("demo-media-url-secret", "占位值"),
        ("changeme" * 5, "占位值"),
        ("f3a9c2d1e8b7", "太短"),
    ],
)
def test_the_api_refuses_a_weak_photo_link_secret(value: str, says: str) -> None:
    settings = prod(media_url_secret=value)
    with pytest.raises(SettingsError, match=f"DANGQUN_MEDIA_URL_SECRET.*{says}"):
        settings.check_production_ready(serving_api=True)
    settings.check_production_ready()  # the bot never signs photo links: it does not need one


def test_a_real_photo_link_secret_passes_and_media_defaults_under_the_data_dir() -> None:
    settings = prod(media_url_secret="9b8e7d6c5f4a3b2c1d0e9f8a7b6c5d4e", data_dir="/srv/dangqun")
    settings.check_production_ready(serving_api=True)
    assert str(settings.photo_root) == "/srv/dangqun/media"
    assert str(prod(media_root="/mnt/photos").photo_root) == "/mnt/photos"
