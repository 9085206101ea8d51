"""Every typed application and request key, in one place ("No Singletons Please")."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pymongo.asynchronous.database import AsyncDatabase

from config.settings import Settings
from handlers.auth.service import AuthService
from handlers.idempotency.service import IdempotencyService
from handlers.media.service import MediaService
from handlers.stories.comments import CommentService
from handlers.stories.service import PeopleService, StoryService
from server.access_log import AccessLog
from server.jobqueue import JobQueue
from server.metrics import Metrics
from server.principal import Authenticator, Principal
from server.privacy import PrivacyRegistry
from server.redis_state import RateLimiter, RedisState
from server.wechat import WeChatClient
from server.workers import WorkerPool

SETTINGS = web.AppKey("settings", Settings)
MONGO_DB = web.AppKey("mongo_db", AsyncDatabase[dict[str, Any]])
REDIS = web.AppKey("redis", RedisState)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)
PROCESS_POOL = web.AppKey("process_pool", WorkerPool)
WECHAT = web.AppKey("wechat", WeChatClient)
METRICS = web.AppKey("metrics", Metrics)
ACCESS_LOG = web.AppKey("access_log", AccessLog)
PRIVACY = web.AppKey("privacy", PrivacyRegistry)
AUTHENTICATOR = web.AppKey("authenticator", Authenticator)
AUTH_SERVICE = web.AppKey("auth_service", AuthService)
MEDIA_SERVICE = web.AppKey("media_service", MediaService)
PEOPLE_SERVICE = web.AppKey("people_service", PeopleService)
STORY_SERVICE = web.AppKey("story_service", StoryService)
COMMENT_SERVICE = web.AppKey("comment_service", CommentService)
IDEMPOTENCY = web.AppKey("idempotency", IdempotencyService)
JOBS = web.AppKey("jobs", JobQueue)

REQUEST_ID = web.RequestKey("request_id", str)
PRINCIPAL = web.RequestKey("principal", Principal)
