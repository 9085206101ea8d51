"""The one error type every room raises; the middleware turns it into the API.md envelope."""

from __future__ import annotations

from typing import Any

from pymongo.errors import ConnectionFailure
from redis.exceptions import RedisError


class AppError(Exception):
    """An error the client is meant to see: HTTP status, snake_case code, message, details."""

    status = 400
    code = "invalid_request"
    message = "请求无效"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.code = code or self.code
        self.message = message or self.message
        self.status = status or self.status
        self.details = details or {}
        self.headers = headers or {}
        super().__init__(f"{self.status} {self.code}: {self.message}")


class InvalidRequest(AppError):
    status = 422
    code = "invalid_request"
    message = "请求参数无效"

    @classmethod
    def for_fields(cls, fields: dict[str, str], message: str | None = None) -> InvalidRequest:
        """A 422 naming the bad fields in ``details.fields`` (field -> reason)."""
        return cls(message=message, details={"fields": fields})


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"
    message = "请先登录"


class Forbidden(AppError):
    status = 403
    code = "forbidden"
    message = "没有权限"


class NotFound(AppError):
    status = 404
    code = "not_found"
    message = "未找到"


class Conflict(AppError):
    status = 409
    code = "conflict"
    message = "与当前状态冲突"


class RateLimited(AppError):
    status = 429
    code = "rate_limited"
    message = "请求过于频繁，请稍后再试"

    def __init__(self, retry_after_s: int, message: str | None = None) -> None:
        retry_after_s = max(1, int(retry_after_s))
        super().__init__(
            message=message,
            details={"retry_after": retry_after_s},
            headers={"Retry-After": str(retry_after_s)},
        )


class Unavailable(AppError):
    status = 503
    code = "unavailable"
    message = "服务暂时不可用，请稍后再试"

    def __init__(self, message: str | None = None, retry_after_s: int = 5) -> None:
        super().__init__(message=message, headers={"Retry-After": str(retry_after_s)})


# The one list of "a backing service is down": MongoDB unreachable (no primary, socket
# errors, timeouts) and any Redis failure (also a read-only replica during failover).
# The middleware answers them 503 + Retry-After (not 500); code that can do without
# Redis catches ``REDIS_UNAVAILABLE`` and degrades through ``server.degrade``.
REDIS_UNAVAILABLE: tuple[type[Exception], ...] = (RedisError, ConnectionError, TimeoutError)
# A read that can do without MongoDB (counters over a cached answer) catches this one.
MONGODB_UNAVAILABLE: tuple[type[Exception], ...] = (ConnectionFailure,)
BACKEND_UNAVAILABLE: tuple[type[Exception], ...] = (*MONGODB_UNAVAILABLE, *REDIS_UNAVAILABLE)
