"""The web side of the job queue (arq, Redis-backed): enqueue work for ``server worker``.

Jobs are JSON, not arq's default pickle: a job read back from Redis must never be able
to run code. Every job id and queue name carries the deployment's Redis prefix, so
deployments (and tests) sharing one Redis never take each other's jobs.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import orjson
from arq.connections import ArqRedis
from redis.asyncio import Redis


def dump_job(data: Any) -> bytes:
    # default=str: a failed job's result is its exception, kept as text.
    return orjson.dumps(data, default=str)


def load_job(raw: bytes) -> Any:
    return orjson.loads(raw)


def queue_name(redis_prefix: str) -> str:
    return f"{redis_prefix}jobs"


def arq_redis(client: Redis, redis_prefix: str) -> ArqRedis:
    """arq's client over ``client``'s connection pool (one pool per process, not two)."""
    return ArqRedis(
        client.connection_pool,
        job_serializer=dump_job,
        job_deserializer=load_job,
        default_queue_name=queue_name(redis_prefix),
    )


class JobQueue:
    """Deferred work for the worker. Enqueueing is best effort by design: every job has
    a periodic sweep on the worker that does the same work if the job never ran."""

    def __init__(self, client: Redis, redis_prefix: str) -> None:
        self.prefix = redis_prefix
        self.arq = arq_redis(client, redis_prefix)

    def job_id(self, name: str) -> str:
        return self.prefix + name

    async def run_soon(self, function: str, job_id: str, *args: Any) -> bool:
        """Run ``function(*args)`` on the worker as soon as one is free, once per
        ``job_id``; False if such a job is already queued (or ran within the hour)."""
        job = await self.arq.enqueue_job(function, *args, _job_id=self.job_id(job_id))
        return job is not None

    async def run_at(self, function: str, when: datetime, job_id: str, *args: Any) -> bool:
        """Run ``function(*args)`` on the worker at ``when``, once per ``job_id``; False if
        such a job is already queued (or ran within the hour arq keeps results). A
        ``when`` gone by runs as soon as a worker is free."""
        # arq keeps a deferred job until a day past its time, reckoned on its own clock:
        # a time more than a day gone would be a negative expiry, refused by Redis.
        due = when if when.timestamp() > time.time() else None
        job = await self.arq.enqueue_job(
            function, *args, _job_id=self.job_id(job_id), _defer_until=due
        )
        return job is not None
