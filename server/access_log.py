"""The access log: one JSON line per request, written to stderr in batches.

It bypasses the logging module on purpose: building a LogRecord and formatting it
cost more than the rest of the middleware together. Lines are buffered and written
with one syscall every ``flush_interval_s`` (or every ``max_lines``), and on shutdown.
Fields are chosen explicitly: the path without its query string, never headers, so
tokens, phone numbers and signatures cannot reach the log.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import IO, Any

import orjson


class AccessLog:
    QUOTED_ENTRIES = 4096  # JSON forms of paths, users and addresses kept (they repeat)

    def __init__(
        self,
        stream: IO[bytes] | None = None,
        *,
        enabled: bool = True,
        flush_interval_s: float = 0.25,
        max_lines: int = 512,
    ) -> None:
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr.buffer
        self.flush_interval_s = flush_interval_s
        self.max_lines = max_lines
        self._pending: list[tuple[Any, ...]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._second = -1
        self._second_text = ""
        self._quoted: dict[str | None, str] = {}

    def record(
        self,
        request_id: str,
        method: str,
        path: str,
        route: str,
        status: int,
        duration_s: float,
        user_id: str | None,
        remote: str | None,
    ) -> None:
        """Queue one request's line; formatting waits for the batch (cheaper per line)."""
        self._pending.append(
            (time.time(), request_id, method, path, route, status, duration_s, user_id, remote)
        )
        if len(self._pending) >= self.max_lines:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.flush_interval_s, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        # A template, not a dict per line: this runs for every request. The request id
        # (ours, or the client's if it matched [A-Za-z0-9._:-]), the method (a known one
        # or OTHER) and the route template need no escaping; everything else a client can
        # shape (path, address) goes through orjson, once per distinct value.
        quoted, last_second, date = self._quoted, self._second, self._second_text
        lines = []
        for ts, request_id, method, path, route, status, duration_s, user_id, remote in pending:
            second = int(ts)
            if second != last_second:  # formatting the date once a second is enough
                last_second = second
                date = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            path_json = quoted.get(path) or self._quote(path)
            user_json = quoted.get(user_id) or self._quote(user_id)
            remote_json = quoted.get(remote) or self._quote(remote)
            lines.append(
                f'{{"ts":"{date}.{int((ts - second) * 1000):03d}+00:00","level":"info",'
                f'"logger":"jiangxin.access",'
                f'"msg":"request","request_id":"{request_id}","method":"{method}",'
                f'"path":{path_json},"route":"{route}","status":{status},'
                f'"duration_ms":{duration_s * 1000:.2f},"user_id":{user_json},'
                f'"remote":{remote_json}}}\n'
            )
        self._second, self._second_text = last_second, date
        self.stream.write("".join(lines).encode())
        self.stream.flush()

    def _quote(self, value: str | None) -> str:
        """``value`` as JSON, remembered (paths, users and addresses repeat)."""
        if len(self._quoted) >= self.QUOTED_ENTRIES:
            self._quoted.clear()
        text = self._quoted[value] = orjson.dumps(value).decode()
        return text
