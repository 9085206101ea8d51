"""The typed keys of the shared resources ("No Singletons Please").

Rooms keep the keys of their own services in ``handlers/<room>/keys.py``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pymongo.asynchronous.database import AsyncDatabase

from config.settings import Settings
from server.access_log import AccessLog
from server.audit import AuditLog
from server.clock import Clock
from server.degrade import Degrade
from server.html import HtmlSide
from server.idempotent import IdempotencyStore
from server.jobqueue import JobQueue
from server.metrics import Metrics
from server.principal import Authenticator, Principal
from server.privacy import PrivacyRegistry
from server.recent_writes import RecentWrites
from server.redis_state import RateLimiter, RedisState
from server.room import Room
from server.signing import Signer
from server.wechat import OpenidLookup, WeChatClient
from server.workers import WorkerPool

SETTINGS = web.AppKey("settings", Settings)
ROOMS = web.AppKey("rooms", tuple[Room, ...])
CLOCK = web.AppKey("clock", Clock)
SIGNER = web.AppKey("signer", Signer)
DEGRADE = web.AppKey("degrade", Degrade)
MONGO_DB = web.AppKey("mongo_db", AsyncDatabase[dict[str, Any]])
AUDIT = web.AppKey("audit", AuditLog)
REDIS = web.AppKey("redis", RedisState)
RECENT_WRITES = web.AppKey("recent_writes", RecentWrites)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)
PROCESS_POOL = web.AppKey("process_pool", WorkerPool)
WECHAT = web.AppKey("wechat", WeChatClient)
METRICS = web.AppKey("metrics", Metrics)
ACCESS_LOG = web.AppKey("access_log", AccessLog)
PRIVACY = web.AppKey("privacy", PrivacyRegistry)
JOBS = web.AppKey("jobs", JobQueue)
# Set by rooms: the auth room authenticates (and knows openids), the idempotency room
# keeps the records, the console serves the HTML routes (server/html.py).
AUTHENTICATOR = web.AppKey("authenticator", Authenticator)
HTML_SIDE = web.AppKey("html_side", HtmlSide)
OPENIDS = web.AppKey("openids", OpenidLookup)
IDEMPOTENCY = web.AppKey("idempotency", IdempotencyStore)

REQUEST_ID = web.RequestKey("request_id", str)
PRINCIPAL = web.RequestKey("principal", Principal)
