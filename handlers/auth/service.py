"""Accounts and sessions: WeChat and staff sign-in, token rotation, revocation, profile.

Revocation is per session (a refresh-token family). MongoDB records it; Redis holds a
short-lived marker that every request checks, so logout takes effect at once. When
Redis does not answer, or may have missed revocations, the check reads MongoDB.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from config.settings import Settings
from handlers.auth.passwords import check_staff_password
from handlers.auth.repo import SessionRepo, UsernameTaken, UserRecord, UserRepo
from handlers.auth.throttle import LoginThrottle
from handlers.auth.tokens import (
    AccessTokenCodec,
    TokenInvalid,
    hash_token,
    new_refresh_token,
    new_session_id,
    split_refresh_token,
)
from handlers.media.service import MediaService
from server.batching import Batcher
from server.clock import Clock
from server.degrade import Degrade
from server.errors import REDIS_UNAVAILABLE, Forbidden, NotFound, Unauthorized
from server.principal import Principal, Role
from server.recent_writes import RecentWrites
from server.redis_state import RedisState
from server.wechat import ContentRejected, WeChatClient

log = logging.getLogger("jiangxin.auth")
ERASED_NAME = "已注销用户"  # what others see of an erased account
REVOCATIONS_COMPLETE = "revocations-complete"
REVOCATION_SYNC_S = 1.0

_password_hasher = PasswordHasher()
# Verified against when the username is unknown, so timing does not reveal accounts.
_DUMMY_HASH = _password_hasher.hash("jiangxin-timing-equaliser")


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    message = "用户名或密码错误"


class AccountDisabled(Forbidden):
    """The password was right, but an admin has disabled the account."""

    code = "account_disabled"
    message = "账号已停用，请联系管理员"


class RefreshTokenInvalid(Unauthorized):
    code = "refresh_token_invalid"
    message = "刷新令牌无效或已过期，请重新登录"


class RefreshTokenReused(Unauthorized):
    code = "refresh_token_reused"
    message = "刷新令牌已被使用，此登录已全部失效，请重新登录"


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    user: UserRecord


def hash_password(password: str) -> str:
    return _password_hasher.hash(password)


def _verify_password(password_hash: str, password: str) -> bool:
    try:
        return _password_hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


class AuthService:
    privacy_section = "account"

    def __init__(
        self,
        *,
        settings: Settings,
        users: UserRepo,
        sessions: SessionRepo,
        redis: RedisState,
        recent_writes: RecentWrites,
        throttle: LoginThrottle,
        wechat: WeChatClient,
        degrade: Degrade,
        media: MediaService,
        clock: Clock,
        token_key: bytes,
    ) -> None:
        self.settings = settings
        self.users = users
        self.sessions = sessions
        self.redis = redis
        self._complete_key = redis.key(REVOCATIONS_COMPLETE)
        self.recent_writes = recent_writes
        self._session_checks: Batcher[tuple[str, str | None], tuple[bool, bool, bool]] = Batcher(
            self._check_sessions, max_batch=200
        )
        self.throttle = throttle
        self.wechat = wechat
        self.degrade = degrade
        self.media = media
        self.clock = clock
        self.codec = AccessTokenCodec(
            token_key,
            settings.jwt_issuer,
            settings.jwt_audience,
            settings.access_token_ttl_s,
            clock,
        )
        # Redis failures seen by revocation code, and how many of them a sync has healed.
        self._redis_failures = 0
        self._redis_failures_synced = 0

    # -- signing in -----------------------------------------------------------------

    async def login_wechat(self, code: str) -> IssuedTokens:
        session = await self.wechat.code2session(code)
        # session.session_key stays here: nothing needs it yet, and it never leaves.
        # A neutral default nickname; users set their own with PATCH /me.
        suffix = int(hash_token(session.openid)[:8], 16) % 10000
        user = await self.users.upsert_wechat_user(
            session.openid, nickname=f"匠心用户{suffix:04d}", now=self.clock.now()
        )
        return await self._start_session(user)

    async def login_password(self, username: str, password: str, ip: str) -> IssuedTokens:
        return await self._start_session(await self.verify_staff_password(username, password, ip))

    async def verify_staff_password(self, username: str, password: str, ip: str) -> UserRecord:
        """The staff account whose password this is, checked through the sign-in throttle
        (429 ``rate_limited`` past it): the API's sign-in and the console's. Else 401
        ``invalid_credentials``, whether the name or the password was wrong."""
        user = await self.users.find_by_username(username)
        stored_hash = user.password_hash if user and user.password_hash else _DUMMY_HASH

        async def verify() -> bool:
            return await asyncio.to_thread(_verify_password, stored_hash, password)

        ok = await self.throttle.guard(username, ip, verify)
        if not ok or user is None or user.password_hash is None:
            raise InvalidCredentials()
        if user.disabled_at is not None:  # said only to whoever knows the password
            raise AccountDisabled()
        return user

    async def _refuse_if_disabled_since(self, user: UserRecord, session_id: str) -> None:
        """A staff account disabled while it was signing in ends its new session here.
        Disabling writes the account, then ends its sessions; a session made too late
        for that reads the account already disabled, here."""
        if not user.is_staff:
            return
        current = await self.users.get(user.id)
        if current is None or current.disabled_at is not None:
            with contextlib.suppress(*REDIS_UNAVAILABLE):  # its tokens are never handed out
                await self.revoke_session(session_id, "account_disabled")
            raise InvalidCredentials() if current is None else AccountDisabled()

    async def start_cookie_session(self, user: UserRecord, lifetime_s: int) -> str:
        """A session of ``user`` for the staff console's cookie (its id): a session like
        any other (logout, a password reset and erasure revoke it), but never refreshed:
        the console renews its cookie from ``live_session_user`` instead."""
        now = self.clock.now()
        session_id = new_session_id()
        # The hash of a refresh token nobody holds: this session cannot be rotated.
        unusable = hash_token(new_refresh_token(session_id))
        expires_at = now + timedelta(seconds=lifetime_s)
        await self.sessions.create(session_id, user.id, unusable, now, expires_at)
        await self._refuse_if_disabled_since(user, session_id)
        return session_id

    async def live_session_user(self, session_id: str) -> UserRecord | None:
        """The account of a session that is neither revoked nor expired, as it is now
        (its current roles), read from MongoDB; None otherwise."""
        session = await self.sessions.get(session_id)
        if session is None or session.get("revoked_at") is not None:
            return None
        if session["expires_at"] <= self.clock.now() or "user_id" not in session:
            return None
        user = await self.users.get(session["user_id"])
        if user is None or user.deleted_at is not None or user.disabled_at is not None:
            return None
        return user

    async def session_revoked(self, session_id: str) -> bool:
        """The check every request with an access token makes (Redis, else MongoDB):
        sound for ``ACCESS_TOKEN_TTL_S`` after the caller last read the session."""
        return await self._is_revoked(session_id)

    async def _start_session(self, user: UserRecord) -> IssuedTokens:
        now = self.clock.now()
        session_id = new_session_id()
        refresh_token = new_refresh_token(session_id)
        await self.sessions.create(
            session_id,
            user.id,
            hash_token(refresh_token),
            now,
            now + timedelta(seconds=self.settings.refresh_token_ttl_s),
        )
        await self._refuse_if_disabled_since(user, session_id)
        return IssuedTokens(
            access_token=self.codec.issue(user.id, session_id, user.roles),
            refresh_token=refresh_token,
            expires_in=self.settings.access_token_ttl_s,
            user=user,
        )

    async def refresh(self, refresh_token: str) -> IssuedTokens:
        """Rotate: the old refresh token dies; presenting it again revokes the family."""
        session_id = split_refresh_token(refresh_token)
        if session_id is None:
            raise RefreshTokenInvalid()
        old_hash = hash_token(refresh_token)
        new_token = new_refresh_token(session_id)
        now = self.clock.now()
        rotated = await self.sessions.rotate(session_id, old_hash, hash_token(new_token), now)
        if rotated is None:
            session = await self.sessions.get(session_id)
            if session is not None and old_hash in session.get("previous_hashes", []):
                await self.revoke_session(session_id, "refresh_token_reused")
                log.warning("refresh token reused; session family revoked")
                raise RefreshTokenReused()
            raise RefreshTokenInvalid()
        user = await self.users.get(rotated["user_id"])
        if user is None or user.disabled_at is not None:  # disabling ended it anyway
            raise RefreshTokenInvalid()
        return IssuedTokens(
            access_token=self.codec.issue(user.id, session_id, user.roles),
            refresh_token=new_token,
            expires_in=self.settings.access_token_ttl_s,
            user=user,
        )

    # -- every request --------------------------------------------------------------

    async def authenticate(self, token: str) -> Principal:
        claims = self.codec.decode(token)
        revoked, recent_writer = await self._session_state(claims.session_id, claims.user_id)
        if revoked:
            raise TokenInvalid()
        return Principal(
            user_id=claims.user_id,
            session_id=claims.session_id,
            roles=claims.roles,
            token_id=claims.token_id,
            recent_writer=recent_writer,
        )

    # Revocation. MongoDB is the truth, Redis a cache of it: a marker per revoked session
    # and ``revocations-complete``, set once Redis holds every revocation whose access
    # tokens may still live. Redis restarted empty or flushed (no such key): requests read
    # MongoDB until a process has copied the revocations back (``sync_revocations``, every
    # second, and once at startup). A marker Redis did not take (it was unreachable) stays
    # ``marker_pending`` in MongoDB and is replayed by the same loop; meanwhile the process
    # that saw Redis fail reads MongoDB only, so a Redis that kept its data through the
    # outage cannot bring a revoked session back (docs/architecture.md, "Revocation").

    def _revoked_key(self, session_id: str) -> str:
        return self.redis.key("revoked-session", session_id)

    def _redis_failed(self, operation: str, exc: BaseException) -> None:
        self.degrade.redis(operation, exc)
        self._redis_failures += 1

    async def _revoked_in_mongo(self, session_id: str) -> bool:
        session = await self.sessions.get(session_id)
        return session is None or session.get("revoked_at") is not None

    async def _is_revoked(self, session_id: str) -> bool:
        revoked, _recent_writer = await self._session_state(session_id, None)
        return revoked

    async def _session_state(self, session_id: str, user_id: str | None) -> tuple[bool, bool]:
        """Whether the session is revoked, and whether its user may have written lately
        (``server/recent_writes.py``: true whenever Redis cannot say), in one command."""
        if self._redis_failures != self._redis_failures_synced:
            return await self._revoked_in_mongo(session_id), True  # until Redis caught up
        try:
            marked, complete, wrote = await self._session_checks.submit((session_id, user_id))
        except REDIS_UNAVAILABLE as exc:
            self._redis_failed("revocation_check", exc)
            return await self._revoked_in_mongo(session_id), True
        if marked:
            return True, True
        if not complete:  # Redis lost its data (revocation markers, stamps) or is new
            return await self._revoked_in_mongo(session_id), True
        return False, user_id is None or wrote

    async def _check_sessions(
        self, sessions: list[tuple[str, str | None]]
    ) -> list[tuple[bool, bool, bool]]:
        """The concurrent requests' checks in one ``MGET`` (``server/batching.py``): for
        each, its revocation marker, ``revocations-complete``, its user's stamp."""
        keys = [self._complete_key]
        for session_id, user_id in sessions:
            keys.append(self._revoked_key(session_id))
            keys.append(self.recent_writes.key(user_id) if user_id else self._complete_key)
        found = await self.redis.client.mget(keys)
        complete = found[0] is not None
        return [
            (found[1 + 2 * i] is not None, complete, found[2 + 2 * i] is not None)
            for i in range(len(sessions))
        ]

    async def revoke_session(self, session_id: str, reason: str) -> None:
        """Record in MongoDB (truth), then mark in Redis so access tokens die at once.

        If Redis does not answer, the caller gets 503 and may retry (both steps are
        idempotent); the revocation holds anyway: see ``sync_revocations``.
        """
        await self.sessions.revoke(session_id, reason, self.clock.now())
        try:
            await self.redis.client.set(
                self._revoked_key(session_id), reason, ex=self.settings.access_token_ttl_s + 60
            )
        except REDIS_UNAVAILABLE as exc:
            self._redis_failed("revocation_mark", exc)
            raise
        await self.sessions.marker_written([session_id])

    async def sync_revocations(self) -> None:
        """Bring Redis up to MongoDB: every recent revocation if Redis lost them, else the
        markers it missed; then say Redis is complete (and this process trusts it again)."""
        failures = self._redis_failures
        ttl = self.settings.access_token_ttl_s + 60
        cutoff = self.clock.now() - timedelta(seconds=ttl)
        complete_key = self._complete_key
        try:
            complete = bool(await self.redis.client.exists(complete_key))
            revoked = await self.sessions.revoked_since(cutoff, pending_only=complete)
            if revoked:
                async with self.redis.client.pipeline(transaction=False) as pipe:
                    for doc in revoked:
                        pipe.set(self._revoked_key(doc["_id"]), doc["revoked_reason"], ex=ttl)
                    await pipe.execute()
                await self.sessions.marker_written([doc["_id"] for doc in revoked])
            if not complete:
                await self.redis.client.set(complete_key, "1")
        except REDIS_UNAVAILABLE as exc:
            self._redis_failed("revocation_sync", exc)
            return
        self._redis_failures_synced = failures

    async def logout(self, principal: Principal) -> None:
        await self.revoke_session(principal.session_id, "logout")

    async def sweep_sessions(self) -> int:
        """Delete sessions expired for longer than any of their access tokens can live
        (a missing session counts as revoked); returns how many."""
        grace = timedelta(seconds=self.settings.access_token_ttl_s + 3600)
        return await self.sessions.delete_expired_before(self.clock.now() - grace)

    # -- profile ------------------------------------------------------------------

    async def get_user(self, user_id: str) -> UserRecord:
        user = await self.users.get(user_id)
        if user is None:
            raise NotFound()
        return user

    async def get_staff_user(self, username: str) -> UserRecord:
        user = await self.users.find_by_username(username)
        if user is None:
            raise NotFound()
        return user

    async def demo_staff(self, username: str) -> Principal:
        """The principal a seed acts as for the demo staff account ``username`` (made by
        this room's seed), so that the audit log names that account (development only)."""
        return self.seed_principal(await self.get_staff_user(username))

    @staticmethod
    def seed_principal(user: UserRecord) -> Principal:
        """``user`` acting in ``python -m server seed`` (no session: its ids say "seed")."""
        return Principal(user.id, "seed", frozenset(user.roles), "seed")

    async def demo_resident(self, name: str, nickname: str) -> UserRecord:
        """The account the development sign-in ``dev:<name>`` reaches (openid
        ``dev-<name>``), made if missing, without a call to WeChat: the demo residents
        and students of ``python -m server seed`` (development only)."""
        return await self.users.upsert_wechat_user(f"dev-{name}", nickname, self.clock.now())

    async def display_name(self, user_id: str) -> str:
        """The nickname others see; erased accounts show as such."""
        user = await self.users.get(user_id)
        return user.nickname if user else ERASED_NAME

    async def display_names(self, user_ids: list[str]) -> dict[str, str]:
        """``display_name`` of each of ``user_ids``, in one query."""
        found = await self.users.nicknames(list(dict.fromkeys(user_ids)))
        return {user_id: found.get(user_id, ERASED_NAME) for user_id in user_ids}

    async def openid_of(self, user_id: str) -> str | None:
        """The account's WeChat openid (None for staff and unknown accounts)."""
        user = await self.users.get(user_id)
        return user.openid if user else None

    async def _check_nickname(self, user: UserRecord, nickname: str) -> None:
        """Others see nicknames beside comments: WeChat text security (scene 1, 资料)
        first. Only ``pass`` is taken (a nickname has no reviewer queue); WeChat being
        unreachable is a 503, and the old nickname stays. Staff accounts have no openid
        to check with and are named by an admin."""
        if user.openid is None or nickname == user.nickname:
            return
        check = await self.wechat.msg_sec_check(nickname, user.openid, scene=1)
        if check.suggest != "pass":
            raise ContentRejected(details={"fields": {"nickname": "refused by content security"}})

    async def update_profile(self, user_id: str, changes: dict[str, Any]) -> UserRecord:
        before = await self.get_user(user_id)
        if changes.get("nickname") is not None:
            await self._check_nickname(before, changes["nickname"])
        ref = f"user:{user_id}:avatar"
        new_avatar = changes.get("avatar_media_id")
        if new_avatar is not None:  # others see it: never a private (check-in) photo
            await self.media.use(
                [new_avatar], ref, owner_id=user_id, public=True, field="avatar_media_id"
            )
        user = await self.users.update_profile(user_id, changes, self.clock.now())
        if user is None:
            if new_avatar is not None and new_avatar != before.avatar_media_id:
                await self.media.release([new_avatar], ref)
            raise NotFound()
        old_avatar = before.avatar_media_id
        if "avatar_media_id" in changes and old_avatar and old_avatar != new_avatar:
            await self.media.release([old_avatar], ref)  # the sweeper may now collect it
        return user

    async def set_affiliation(
        self,
        user_id: str,
        *,
        school_id: str | None,
        class_id: str | None,
        add_role: Role | None = None,
        remove_role: Role | None = None,
    ) -> UserRecord:
        """The school and class ``GET /me`` shows (the labour room decides them), and the
        role that goes with them; tokens carry the new roles from their next refresh."""
        user = await self.users.set_affiliation(
            user_id,
            school_id=school_id,
            class_id=class_id,
            add_role=add_role,
            remove_role=remove_role,
            now=self.clock.now(),
        )
        if user is None:
            raise NotFound()
        return user

    async def real_users(self, user_ids: list[str]) -> dict[str, UserRecord]:
        """The live accounts among ``user_ids``, in one query."""
        return {user.id: user for user in await self.users.get_many(user_ids)}

    async def create_staff_user(
        self,
        username: str,
        password: str,
        roles: list[Role],
        *,
        update: bool = False,
        name: str | None = None,
    ) -> UserRecord:
        """Used by ``python -m server create-user`` and the admins' console; ``update``
        resets password and roles and ends every session of the account (a disabled one
        stays disabled). ``WeakPassword`` if the policy refuses; ``name`` is the name
        others see (the username if none)."""
        check_staff_password(password, username)
        password_hash = await asyncio.to_thread(hash_password, password)
        try:
            return await self.users.create_staff(
                username, password_hash, name or username, roles, self.clock.now()
            )
        except UsernameTaken:
            if not update:
                raise
        existing = await self.users.find_by_username(username)
        if existing is None:
            raise UsernameTaken(username)
        await self.users.set_password_and_roles(existing.id, password_hash, roles)
        # Whoever knew the old password may hold a session: none outlives the reset.
        await self.revoke_all_sessions(existing.id, "password_reset")
        return await self.get_user(existing.id)

    async def revoke_all_sessions(self, user_id: str, reason: str) -> None:
        """Every session of ``user_id``; recorded in MongoDB even when Redis does not
        answer (``sync_revocations`` writes the markers once it does)."""
        for session_id in await self.sessions.session_ids_of(user_id):
            with contextlib.suppress(*REDIS_UNAVAILABLE):
                await self.revoke_session(session_id, reason)

    # -- personal data (server.privacy) ---------------------------------------------

    async def export_personal_data(self, user_id: str) -> Any:
        return {
            "profile": await self.users.export(user_id),
            "sessions": await self.sessions.export(user_id),
        }

    async def erase_personal_data(self, user_id: str) -> None:
        await self.revoke_all_sessions(user_id, "account_erased")
        await self.sessions.strip_all_of(user_id, self.clock.now())
        await self.users.anonymise(user_id, self.clock.now())
