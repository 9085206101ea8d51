"""Every setting of the service, read from environment variables (see README, "Settings")."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

EventLoopChoice = Literal["auto", "uvloop", "asyncio"]
# Known-insecure default, accepted only outside production (checked below).
DEV_JWT_SECRET = "jiangxin-development-secret-do-not-use-in-production"  # noqa: S105


class Settings(BaseSettings):
    """Typed configuration; one instance per process, passed to ``create_app``."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    # Production unless told otherwise: a forgotten APP_ENV must not open dev: sign-ins.
    app_env: Literal["development", "test", "production"] = "production"
    public_base_url: str = "http://127.0.0.1:8080"

    mongodb_uri: str = "mongodb://127.0.0.1:27018/"
    mongodb_db: str = "jiangxin"
    mongodb_timeout_ms: int = Field(3000, ge=100)
    redis_url: str = "redis://127.0.0.1:6390/0"
    redis_prefix: str = "jx:"
    redis_timeout_s: float = Field(0.5, gt=0)

    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    jwt_issuer: str = "jiangxin"
    jwt_audience: str = "jiangxin-miniprogram"
    access_token_ttl_s: int = Field(900, ge=60, le=86400)
    refresh_token_ttl_s: int = Field(30 * 86400, ge=3600)

    wechat_app_id: str = ""
    wechat_app_secret: SecretStr = SecretStr("")
    wechat_api_base: str = "https://api.weixin.qq.com"
    wechat_timeout_s: float = Field(5.0, gt=0)
    # Message push (消息推送): the Token and EncodingAESKey set in the mini-program's
    # console. With a token, public photos of WeChat users wait for mediaCheckAsync's
    # verdict before others see them; with an AES key, only safe-mode pushes are taken.
    wechat_push_token: SecretStr = SecretStr("")
    wechat_push_aes_key: SecretStr = SecretStr("")
    wechat_push_max_skew_s: int = Field(300, ge=10, le=3600)
    # Subscribe messages (订阅消息, handlers/messages): the template each kind of message
    # uses, as chosen in the mini-program's console (their keywords: docs/operations.md).
    # Empty: that kind is not sent; development and tests fall back to "dev-<kind>",
    # which our fake WeChat accepts. Which version of the mini-program a tap opens.
    wechat_template_checkin_reviewed: str = ""
    wechat_template_event_reminder: str = ""
    wechat_template_event_promoted: str = ""
    wechat_template_event_cancelled: str = ""
    wechat_miniprogram_state: Literal["formal", "trial", "developer"] = "formal"

    # Sign-up phone numbers, AES-256-GCM (handlers/events/phones.py): "id:base64key,..."
    # (32-byte keys); the first seals, all open. Empty: a key derived from JWT_SECRET.
    phone_encryption_keys: SecretStr = SecretStr("")

    # Our reverse proxies (nginx, load balancer), as comma-separated CIDRs: only a peer
    # in them is believed about X-Forwarded-For (server/middleware.py, client_ip).
    trusted_proxy_networks: str = ""
    # false lifts every rate limit and the sign-in throttle (fuzzing, load tests);
    # refused in production.
    rate_limits: bool = True
    rate_limit_ip_per_minute: int = Field(600, ge=1)
    rate_limit_user_per_minute: int = Field(300, ge=1)
    # Staff sign-in throttle (handlers/auth/throttle.py): per account+address, per
    # account (then one attempt per address), per address; all per window.
    login_failures_max: int = Field(5, ge=1)
    login_account_failures_max: int = Field(20, ge=1)
    login_address_failures_max: int = Field(100, ge=1)
    login_failures_window_s: int = Field(900, ge=1)

    # The staff console (handlers/console): a session ends after this long without a
    # request, and after CONSOLE_SESSION_MAX_S whatever happens.
    console_idle_timeout_s: int = Field(1800, ge=60, le=86400)
    console_session_max_s: int = Field(12 * 3600, ge=300, le=30 * 86400)

    max_json_body_bytes: int = Field(1024 * 1024, ge=1024)
    media_max_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    media_max_pixels: int = Field(40_000_000, ge=10_000)
    media_url_ttl_s: int = Field(3600, ge=60, le=7 * 86400)
    media_cache_bytes: int = Field(64 * 1024 * 1024, ge=0)
    # Public photos: short enough that an erased photo leaves browser and CDN caches
    # within the hour; revalidation by ETag (304) is one indexed lookup.
    media_public_max_age_s: int = Field(3600, ge=0, le=86400)
    media_uploads_per_user_per_hour: int = Field(120, ge=1)
    media_rate_limit_ip_per_minute: int = Field(3000, ge=1)
    feed_cache_ttl_s: int = Field(30, ge=0, le=3600)
    # How old the counters laid over cached answers may be for readers who are not
    # signed in (signed-in ones get them read for their answer): handlers/stories/counters.py
    feed_counters_ttl_s: float = Field(1.0, ge=0, le=60)
    # Labour education (handlers/labour): how long a class's join code works, and how
    # many join attempts a user, and failed ones an address, may make per hour (a join
    # code is short: the limits are what make guessing one hopeless).
    join_code_ttl_days: int = Field(30, ge=1, le=365)
    join_attempts_per_user_per_hour: int = Field(10, ge=1)
    join_failures_per_address_per_hour: int = Field(50, ge=1)
    shutdown_timeout_s: float = Field(20.0, ge=0)
    image_workers: int = Field(1, ge=1)
    # Uploads waiting for a free image worker (each holds its bytes); 503 past it.
    image_queue_max: int = Field(8, ge=0)
    image_timeout_s: float = Field(30.0, gt=0)
    # serve and worker run on uvloop where it imports (server/loop.py); asyncio = off.
    event_loop: EventLoopChoice = "auto"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    access_log: bool = True

    @field_validator("trusted_proxy_networks")
    @classmethod
    def _proxy_networks(cls, value: str) -> str:
        for part in filter(None, (p.strip() for p in value.split(","))):
            try:
                ipaddress.ip_network(part)
            except ValueError:
                raise ValueError(
                    f"TRUSTED_PROXY_NETWORKS: {part!r} is not a network (e.g. 10.0.0.0/8)"
                ) from None
        return value

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.app_env == "production":
            problems = []
            if not self.wechat_app_id or not self.wechat_app_secret.get_secret_value():
                problems.append(
                    "WECHAT_APP_ID and WECHAT_APP_SECRET are needed: the development login "
                    "(dev:<name> codes) must not run in production"
                )
            if not self.wechat_push_token.get_secret_value():
                problems.append(
                    "WECHAT_PUSH_TOKEN is needed: without WeChat's message push, photos "
                    "that other users see would skip mediaCheckAsync"
                )
            secret = self.jwt_secret.get_secret_value()
            if secret == DEV_JWT_SECRET or len(secret) < 32:
                problems.append(
                    "JWT_SECRET of at least 32 characters is needed, not the development "
                    "one (openssl rand -hex 32)"
                )
            if not self.rate_limits:
                problems.append(
                    "RATE_LIMITS=false lifts every rate limit and the sign-in throttle: "
                    "for tests and load tests, never in production"
                )
            if problems:
                raise ValueError(
                    "APP_ENV=production (the default): "
                    + "; ".join(problems)
                    + ". On your own machine set APP_ENV=development"
                )
        return self

    def message_template(self, kind: str) -> str:
        """The template id of a kind of subscribe message; "" when it is not sent."""
        configured: str = getattr(self, f"wechat_template_{kind}")
        if configured or self.app_env == "production":
            return configured
        return f"dev-{kind}"

    @property
    def dev_login_enabled(self) -> bool:
        """Development mode: ``dev:<name>`` codes sign in through our fake WeChat."""
        return self.app_env == "development" and not self.wechat_app_id
