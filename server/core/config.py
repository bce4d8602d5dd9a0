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
DEV_MEDIA_URL_SECRET = "demo-media-url-secret"  # signs photo links; refused outside dev
MEDIA_URL_SECRET_MIN = 32  # an HMAC key shorter than this is guessable; `openssl rand -hex 32`
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

    # 志愿红 tasks: invitations go out in waves to the top K candidates (per community overridable)
    task_wave_size: int = Field(default=5, ge=1, le=50, description="每一轮邀请的志愿者人数 K")
    task_wave_timeout_minutes: int = Field(
        default=30, ge=1, le=24 * 60, description="一轮邀请无人接单多久后发下一轮（分钟）"
    )
    task_max_waves: int = Field(default=3, ge=1, le=20, description="最多几轮，之后上报书记")
    task_auto_match_after_minutes: int = Field(
        default=15, ge=0, description="受理后多久无人派单即自动开始匹配（分钟，0 = 不自动）"
    )
    task_checkin_max_distance_m: int = Field(
        default=500, ge=0, description="签到/签退须在需求地点多少米内（0 = 不检查）"
    )
    task_hours_cap: float = Field(default=8.0, gt=0, le=24, description="一次服务最多记几小时")

    wechat_app_id: str = DEV_WECHAT_APP_ID
    wechat_app_secret: str = DEV_WECHAT_APP_SECRET
    wechat_api_base: str = ""  # default in dev: the in-process mock at {public_url}/mock
    wechat_timeout_seconds: float = Field(default=5.0, gt=0)

    wecom_corp_id: str = DEV_WECOM_CORP_ID
    wecom_corp_secret: str = DEV_WECOM_CORP_SECRET
    wecom_agent_id: int = 1000002
    wecom_api_base: str = ""  # default in dev: {wechat_api_base}/wecom

    # 通知投递 outbox delivery (server/notify)
    notify_batch_size: int = Field(default=50, ge=1, le=1000)  # 每批认领 rows claimed at a time
    notify_concurrency: int = Field(default=16, ge=1, le=256)  # 并发发送 sends in flight
    notify_lease_seconds: int = Field(default=60, ge=5)  # 租约 a crashed bot's rows return after
    notify_max_attempts: int = Field(default=8, ge=1)  # 最多尝试 then the message is dead
    notify_backoff_base_seconds: float = Field(default=30.0, gt=0)  # 重试退避 first retry delay
    notify_backoff_max_seconds: float = Field(default=3600.0, gt=0)  # 退避上限 longest delay
    notify_quiet_start: str = Field(default="22:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    notify_quiet_end: str = Field(default="07:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    notify_robot_per_minute: int = Field(default=18, ge=1, le=20)  # 群机器人 WeCom allows 20
    notify_wecom_member_per_minute: int = Field(default=30, ge=1, le=30)  # 应用消息 per member
    # 应用消息 per member and hour: WeCom drops app messages beyond 1000 an hour per member
    # ("超过部分会被丢弃不下发"), so the bot defers them instead of sending
    notify_wecom_member_per_hour: int = Field(default=1000, ge=1, le=1000)
    # logical template name -> the subscribe-message template id configured in the WeChat console
    notify_subscribe_templates: dict[str, str] = Field(
        default_factory=lambda: {
            "need_status": "tpl-need-status",
            "task_remind": "tpl-task-remind",
            "invitation": "tpl-invitation",
            "overdue_warning": "tpl-overdue-warning",
            "booking_status": "tpl-booking-status",
        }
    )

    # 需求照片 photos of needs (server/needs/photos.py)
    media_root: Path | None = None  # default: data_dir / "media"
    media_url_secret: str = DEV_MEDIA_URL_SECRET  # HMAC key of the signed, expiring photo links
    media_url_ttl_seconds: int = Field(
        default=3600, ge=60, le=7 * 24 * 3600, description="照片链接有效期（秒）"
    )
    photo_uploads_per_hour: int = Field(default=60, ge=1, description="每人每小时最多上传照片数")

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

    @property
    def photo_root(self) -> Path:
        """Where photos are stored (``DANGQUN_MEDIA_ROOT``, default ``DATA_DIR/media``)."""
        return self.media_root if self.media_root is not None else self.data_dir / "media"

    def check_production_ready(self, *, serving_api: bool = False) -> None:
        """Outside dev mode, refuse missing or placeholder secrets, naming the variable.

        ``serving_api``: also the secrets only the HTTP API uses (the bot never signs photo links).
        """
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
        if serving_api:
            required["DANGQUN_MEDIA_URL_SECRET"] = self.media_url_secret
        for name, value in required.items():
            if not value or not value.strip():
                raise SettingsError(f"{name} 未设置：{self.mode.value} 模式必须配置该变量")
            lowered = value.lower()
            if any(marker in lowered for marker in PLACEHOLDER_MARKERS):
                raise SettingsError(
                    f"{name} 仍是占位值（{value!r}）：{self.mode.value} 模式必须配置真实的值"
                )
        if serving_api and len(self.media_url_secret.strip()) < MEDIA_URL_SECRET_MIN:
            raise SettingsError(
                f"DANGQUN_MEDIA_URL_SECRET 太短：至少 {MEDIA_URL_SECRET_MIN} 个字符"
                "（如 openssl rand -hex 32 的输出）"
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
