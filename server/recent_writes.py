"""Who wrote recently: the stamp that lets a signed-in reader share the answers held for
everyone without losing read-your-writes.

Answers held for a moment in a process (the counters laid over a cached story, a reader's
own like and favourite flags) may lag a write made through another process. A user who
wrote nothing lately cannot notice: nothing of theirs is in the lag. So a write that
such an answer shows (a like, a favourite, a comment) stamps its user in Redis for
``STAMP_S`` after it reached MongoDB and before it is answered, and the auth room reads
the stamp in the same round trip as the revocation check
(``Principal.recent_writer``). A stamped reader reads MongoDB for this answer; anyone
else may be served what the process holds, for at most ``HOLD_S``. Since ``HOLD_S <
STAMP_S`` and a held value's deadline counts from before its read, whatever was held
before a write is gone before its stamp is.

When Redis does not answer, the reader's check fails over to MongoDB (no stamp can be
seen, so none is trusted absent: ``recent_writer`` stays true), and a writer's stamp is
logged as degraded and not retried: processes that still reach Redis may then show the
writer their old flags for at most ``HOLD_S``.
"""

from __future__ import annotations

from server.degrade import Degrade
from server.errors import REDIS_UNAVAILABLE
from server.redis_state import RedisState

HOLD_S = 10.0
"""How long a process may answer a reader from what it holds (less than STAMP_S)."""
STAMP_S = 30
"""How long a user counts as having written, after a write."""


class RecentWrites:
    def __init__(self, redis: RedisState, degrade: Degrade) -> None:
        self.redis = redis
        self.degrade = degrade

    def key(self, user_id: str) -> str:
        return self.redis.key("wrote", user_id)

    async def stamp(self, user_id: str) -> None:
        """``user_id`` has just written (to MongoDB): read-your-writes for ``STAMP_S``."""
        try:
            await self.redis.client.set(self.key(user_id), b"1", ex=STAMP_S)
        except REDIS_UNAVAILABLE as exc:
            self.degrade.redis("recent_write_stamp", exc)
