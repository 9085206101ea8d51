"""Every typed application and request key, in one place ("No Singletons Please")."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from typing import Any

from aiohttp import web
from pymongo.asynchronous.database import AsyncDatabase

from config.settings import Settings
from handlers.auth.service import AuthService
from server.access_log import AccessLog
from server.metrics import Metrics
from server.principal import Authenticator, Principal
from server.privacy import PrivacyRegistry
from server.redis_state import RateLimiter, RedisState
from server.wechat import WeChatClient

SETTINGS = web.AppKey("settings", Settings)
MONGO_DB = web.AppKey("mongo_db", AsyncDatabase[dict[str, Any]])
REDIS = web.AppKey("redis", RedisState)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)
PROCESS_POOL = web.AppKey("process_pool", ProcessPoolExecutor)
WECHAT = web.AppKey("wechat", WeChatClient)
METRICS = web.AppKey("metrics", Metrics)
ACCESS_LOG = web.AppKey("access_log", AccessLog)
PRIVACY = web.AppKey("privacy", PrivacyRegistry)
AUTHENTICATOR = web.AppKey("authenticator", Authenticator)
AUTH_SERVICE = web.AppKey("auth_service", AuthService)

REQUEST_ID = web.RequestKey("request_id", str)
PRINCIPAL = web.RequestKey("principal", Principal)
