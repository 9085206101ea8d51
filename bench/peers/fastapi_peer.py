"""The Python peer of bench/feed.py: FastAPI on uvicorn (uvloop, httptools), as a
Python team would write the cached feed instead of us.

``GET /api/v1/stories`` answers the page the bench stored in Redis under ``PEER_KEY``,
read on every request (``PEER_MODE=redis``), or the same bytes read once at start-up
(``PEER_MODE=bytes``): FastAPI's own ceiling. ``GET /healthz`` answers
``{"status":"ok"}`` (bench/overhead.py, which sets no ``PEER_KEY``).

    PEER_KEY=... REDIS_URL=... python -m uvicorn bench.peers.fastapi_peer:app \\
        --loop uvloop --http httptools --port 8099 --no-access-log
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response
from redis.asyncio import Redis

KEY = os.environ.get("PEER_KEY", "")
redis = Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6390/0"))
prebuilt: bytes | None = None


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    global prebuilt
    if KEY and os.environ.get("PEER_MODE") == "bytes":
        prebuilt = await redis.get(KEY)
    yield
    await redis.aclose()


app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)


HEALTHY = b'{"status":"ok"}'


@app.get("/healthz")
async def healthz() -> Response:
    return Response(HEALTHY, media_type="application/json")


@app.get("/api/v1/stories")
async def stories() -> Response:
    body = prebuilt if prebuilt is not None else await redis.get(KEY)
    return Response(body, media_type="application/json")
