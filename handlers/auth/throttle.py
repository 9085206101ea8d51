"""The password sign-in throttle (OWASP Authentication Cheat Sheet, "Login Throttling").

Every attempt is counted in Redis *before* the password is verified, in one Lua script,
so parallel guesses cannot all slip past a check made before the counter moves: of any
number of simultaneous wrong guesses, at most the budget reaches argon2. Three budgets,
per fixed window of ``LOGIN_FAILURES_WINDOW_S``:

- account + address (``LOGIN_FAILURES_MAX``, tight): the guesses one address gets at one
  account; a success resets it.
- account (``LOGIN_ACCOUNT_FAILURES_MAX``): failed verifications of one account from all
  addresses. Past it the account slows down rather than locks: each address gets only
  its first attempt of the window, so the owner signing in from another address still
  passes, and a stranger cannot lock "admin" out for everyone.
- address (``LOGIN_ADDRESS_FAILURES_MAX``, large): failed verifications from one address
  over all accounts, so one school behind one NAT address is not one client. Attempts
  refused before verification do not count here, so a flood aimed at one account does
  not shut out the other staff at the same address.

A success gives back what it took from the account and address budgets. Redis down:
the same budgets are counted in the process instead (``_LocalCounts``), so guessing
stays bounded (by the budgets times the number of processes) while staff can still
sign in; the request rate limits, by contrast, fail open. Should an outage meet a
flood of distinct names and addresses, past ``_LocalCounts.MAX_KEYS`` the process
answers 503 rather than let guesses through uncounted. ``RATE_LIMITS=false`` (never in
production) verifies every attempt.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from prometheus_client import Counter

from server.clock import Clock
from server.degrade import Degrade
from server.errors import REDIS_UNAVAILABLE, RateLimited, Unavailable
from server.metrics import Metrics
from server.redis_state import RedisState

# KEYS: pair, account, address. ARGV: window length, pair, account and address budgets.
# Returns 0 to verify, else which budget refused (1 pair, 2 account, 3 address).
_ADMIT = """
local ttl = tonumber(ARGV[1])
local pair = redis.call('INCR', KEYS[1])
if pair == 1 then redis.call('EXPIRE', KEYS[1], ttl) end
if pair > tonumber(ARGV[2]) then return 1 end
if pair > 1 and tonumber(redis.call('GET', KEYS[2]) or '0') >= tonumber(ARGV[3]) then
  return 2
end
if tonumber(redis.call('GET', KEYS[3]) or '0') >= tonumber(ARGV[4]) then return 3 end
for i = 2, 3 do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('EXPIRE', KEYS[i], ttl) end
end
return 0
"""

# A success: the pair starts again, the account and the address get their attempt back.
_SUCCEEDED = """
redis.call('DEL', KEYS[1])
for i = 2, 3 do
  if tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then redis.call('DECR', KEYS[i]) end
end
return 0
"""


@dataclass(frozen=True, slots=True)
class LoginBudgets:
    pair: int
    account: int
    address: int
    window_s: int


class _LocalCounts:
    """``_ADMIT`` and ``_SUCCEEDED`` in this process, while Redis does not answer (the
    event loop makes each call atomic here, as Lua does there). One window at a time."""

    MAX_KEYS = 100_000

    def __init__(self) -> None:
        self._window = -1
        self._counts: dict[str, int] = {}

    def admit(self, window: int, keys: list[str], budgets: LoginBudgets) -> int:
        pair, account, address = keys
        if window != self._window:
            self._window, self._counts = window, {}
        counts = self._counts
        if len(counts) >= self.MAX_KEYS:
            raise Unavailable()  # bounded memory: refuse rather than count nothing
        counts[pair] = counts.get(pair, 0) + 1
        if counts[pair] > budgets.pair:
            return 1
        if counts[pair] > 1 and counts.get(account, 0) >= budgets.account:
            return 2
        if counts.get(address, 0) >= budgets.address:
            return 3
        for key in (account, address):
            counts[key] = counts.get(key, 0) + 1
        return 0

    def succeeded(self, keys: list[str]) -> None:
        pair, account, address = keys
        self._counts.pop(pair, None)
        for key in (account, address):
            if self._counts.get(key, 0) > 0:
                self._counts[key] -= 1


class LoginThrottle:
    """``guard`` wraps any password check (the API's sign-in now, a staff console later)."""

    def __init__(
        self,
        redis: RedisState,
        budgets: LoginBudgets,
        degrade: Degrade,
        metrics: Metrics,
        clock: Clock,
        *,
        enabled: bool = True,
    ) -> None:
        self.redis = redis
        self.budgets = budgets
        self.enabled = enabled
        self.degrade = degrade
        self.clock = clock
        self.verifications = Counter(
            "jiangxin_password_verifications",
            "Passwords verified with argon2 (attempts the sign-in throttle let through).",
            registry=metrics.registry,
        )
        self._admit = redis.client.register_script(_ADMIT)
        self._succeeded = redis.client.register_script(_SUCCEEDED)
        self._local = _LocalCounts()

    def _keys(self, window: int, account: str, address: str) -> list[str]:
        return [
            self.redis.key("login", "pair", str(window), account, address),
            self.redis.key("login", "account", str(window), account),
            self.redis.key("login", "address", str(window), address),
        ]

    async def guard(
        self, account: str, address: str, verify: Callable[[], Awaitable[bool]]
    ) -> bool:
        """``verify()``'s answer, if the budgets let it run; else 429 ``rate_limited``.
        ``account`` is compared case-insensitively."""
        if not self.enabled:
            self.verifications.inc()
            return await verify()
        b = self.budgets
        now = self.clock.timestamp()
        window = int(now // b.window_s)
        keys = self._keys(window, account.lower(), address)
        in_redis = True
        try:
            refused = int(
                await self._admit(keys=keys, args=[b.window_s + 1, b.pair, b.account, b.address])
            )
        except REDIS_UNAVAILABLE as exc:
            self.degrade.redis("login_throttle", exc)
            in_redis = False
            refused = self._local.admit(window, keys, b)
        if refused:
            retry_after = max(1, int((window + 1) * b.window_s - now) + 1)
            raise RateLimited(retry_after, "登录失败次数过多，请稍后再试")
        self.verifications.inc()
        ok = await verify()
        if ok and in_redis:
            try:
                await self._succeeded(keys=keys)
            except REDIS_UNAVAILABLE as exc:  # signed in all the same; the counters expire
                self.degrade.redis("login_throttle_reset", exc)
        elif ok:
            self._local.succeeded(keys)
        return ok
