"""One typed settings object shared by the API server and the bot (env prefix ``DANGQUN_``)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Values that only make sense on a developer's machine; outside dev mode they are refused.
DEV_WECHAT_APP_ID = "wx-demo-appid"
DEV_WECHAT_APP_SECRET = "wx-demo-secret"
DEV_WECOM_CORP_ID = "ww-demo-corp"
DEV_WECOM_CORP_SECRET = "ww-demo-secret"
PLACEHOLDER_MARKERS = ("changeme", "change-me", "placeholder", "xxx", "demo", "todo")

MEMORY_REDIS_URL = "memory://"


class Mode(StrEnum):
    DEV = "dev"
    TEST = "test"
    PROD = "prod"


class SettingsError(ValueError):
    """Raised when the settings cannot run the requested mode; the message names the variable."""


class Settings(BaseSettings):
    """Everything configurable, from ``DANGQUN_*`` environment variables or a ``.env`` file."""

    model_config = SettingsConfigDict(env_prefix="DANGQUN_", env_file=".env", extra="ignore")

    mode: Mode = Mode.DEV
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    public_url: str = ""  # how phones reach the API; defaults to http://host:port
    data_dir: Path = Path("var")
    database_url: str = ""  # default: sqlite file under data_dir
    redis_url: str = MEMORY_REDIS_URL  # memory:// = in-process fakeredis
    timezone: str = "Asia/Shanghai"

    session_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    max_json_bytes: int = Field(default=1024 * 1024, ge=1024)  # 1 MiB: larger bodies get 413

    # per person: enough for a real household, too few for a flood
    need_submissions_per_hour: int = Field(default=10, ge=1)
    need_auto_confirm_days: int = Field(default=7, ge=1, le=60)  # unrated done needs confirm

    wechat_app_id: str = DEV_WECHAT_APP_ID
    wechat_app_secret: str = DEV_WECHAT_APP_SECRET
    wechat_api_base: str = ""  # default in dev: the in-process mock at {public_url}/mock
    wechat_timeout_seconds: float = Field(default=5.0, gt=0)

    wecom_corp_id: str = DEV_WECOM_CORP_ID
    wecom_corp_secret: str = DEV_WECOM_CORP_SECRET
    wecom_agent_id: int = 1000002
    wecom_api_base: str = ""  # default in dev: {wechat_api_base}/wecom

    # 定时任务 scheduled jobs: a run holds its slot this long; a crashed run is taken over after
    job_lease_seconds: int = Field(default=600, ge=30, description="定时任务租约秒数 / job lease")
    # 周报补发: a bot down at Monday 08:30 still sends the digest if it starts within this window
    digest_catch_up_hours: int = Field(
        default=6, ge=0, le=168, description="周报补发窗口（小时）/ digest catch-up window"
    )

    @model_validator(mode="after")
    def _fill_defaults(self) -> Self:
        if not self.database_url:
            self.database_url = f"sqlite://{(self.data_dir / 'dangqun.sqlite3').as_posix()}"
        if not self.public_url:
            self.public_url = f"http://{self.host}:{self.port}"
        self.public_url = self.public_url.rstrip("/")
        if not self.wechat_api_base and self.mode is not Mode.PROD:
            self.wechat_api_base = f"{self.public_url}/mock"
        self.wechat_api_base = self.wechat_api_base.rstrip("/")
        if not self.wecom_api_base and self.mode is not Mode.PROD:
            self.wecom_api_base = f"{self.wechat_api_base}/wecom"
        self.wecom_api_base = self.wecom_api_base.rstrip("/")
        return self

    @property
    def is_dev(self) -> bool:
        return self.mode is Mode.DEV

    @property
    def uses_memory_redis(self) -> bool:
        return self.redis_url == MEMORY_REDIS_URL

    @property
    def uses_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite://")

    def check_production_ready(self) -> None:
        """Outside dev mode, refuse missing or placeholder secrets, naming the variable."""
        if self.mode is Mode.DEV:
            return
        required = {
            "DANGQUN_WECHAT_APP_ID": self.wechat_app_id,
            "DANGQUN_WECHAT_APP_SECRET": self.wechat_app_secret,
            "DANGQUN_WECOM_CORP_ID": self.wecom_corp_id,
            "DANGQUN_WECOM_CORP_SECRET": self.wecom_corp_secret,
        }
        if self.mode is Mode.PROD:
            required["DANGQUN_WECHAT_API_BASE"] = self.wechat_api_base
            required["DANGQUN_WECOM_API_BASE"] = self.wecom_api_base
        for name, value in required.items():
            if not value or not value.strip():
                raise SettingsError(f"{name} 未设置：{self.mode.value} 模式必须配置该变量")
            lowered = value.lower()
            if any(marker in lowered for marker in PLACEHOLDER_MARKERS):
                raise SettingsError(
                    f"{name} 仍是占位值（{value!r}）：{self.mode.value} 模式必须配置真实的值"
                )
        if self.mode is Mode.PROD and self.uses_memory_redis:
            raise SettingsError(
                "DANGQUN_REDIS_URL 未设置：生产模式不能使用进程内 Redis（memory://）"
            )


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, apply overrides, and check them for the mode."""
    settings = Settings(**overrides)  # type: ignore[arg-type]
    settings.check_production_ready()
    return settings
