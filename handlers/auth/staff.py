"""Staff accounts as admins manage them: the list, creating one, its roles, a new
password, disabling and enabling (the admins' console pages call this, with the
signed-in admin's ``Principal``).

The rules are here, not in the pages, so that any edge gets them:

- the password policy is ``create-user``'s (``check_staff_password``);
- a new password, a role taken away, or disabling ends every session of the account
  at once (API tokens and console cookies: the revocation markers), so what an admin
  takes away is gone on the next request, not at the next refresh;
- a disabled account signs in nowhere (``AuthService``: the API, the console, token
  refresh), until an admin enables it again;
- an admin can neither disable themself nor take away their own ``admin`` role (422
  ``self_lockout``): whoever does it still holds the role, so admins never run out;
- every change is in the audit log (actor, action, whose account; roles only in the
  details, never personal data).
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from handlers.auth.passwords import check_staff_password
from handlers.auth.repo import STAFF_ACCOUNTS, SessionRepo, UserRecord, UserRepo
from handlers.auth.schemas import (
    STAFF_ROLES,
    StaffAccountIn,
    StaffAccountOut,
    StaffAccountPage,
)
from handlers.auth.service import AuthService, hash_password
from server.audit import AuditLog, user_actor
from server.clock import Clock
from server.errors import InvalidRequest, NotFound
from server.paging import PageQuery
from server.principal import Principal, Role


class SelfLockout(InvalidRequest):
    code = "self_lockout"
    message = "不能停用自己的账号，也不能取消自己的管理员身份"


def _staff_roles(roles: list[Role]) -> list[str]:
    return [role.value for role in STAFF_ROLES if role in roles]


class StaffAccountService:
    def __init__(
        self,
        users: UserRepo,
        sessions: SessionRepo,
        auth: AuthService,
        audit: AuditLog,
        clock: Clock,
    ) -> None:
        self.users = users
        self.sessions = sessions
        self.auth = auth
        self.audit = audit
        self.clock = clock

    # -- reading ---------------------------------------------------------------------

    @staticmethod
    def _out(user: UserRecord, last_sign_in: datetime | None) -> StaffAccountOut:
        return StaffAccountOut(
            id=user.id,
            username=user.username or "",
            name=user.nickname,
            roles=user.roles,
            disabled_at=user.disabled_at,
            last_sign_in_at=last_sign_in,
            created_at=user.created_at,
        )

    async def page(self, query: PageQuery) -> StaffAccountPage:
        """Staff accounts by username, each with its last sign-in (two queries)."""
        position = STAFF_ACCOUNTS.decode(query.cursor)
        users = await self.users.staff_page(position, query.limit + 1)
        next_cursor = None
        if len(users) > query.limit:
            users = users[: query.limit]
            next_cursor = STAFF_ACCOUNTS.encode((users[-1].username,))
        last = await self.sessions.last_sign_ins([user.id for user in users])
        items = [self._out(user, last.get(user.id)) for user in users]
        return StaffAccountPage(items=items, next_cursor=next_cursor)

    async def _staff_user(self, user_id: str) -> UserRecord:
        """The live staff account ``user_id``; anything else (a WeChat account, an
        erased one, no account) is 404."""
        user = await self.users.get(user_id)
        if user is None or not user.is_staff:
            raise NotFound()
        return user

    async def get(self, user_id: str) -> StaffAccountOut:
        user = await self._staff_user(user_id)
        last = await self.sessions.last_sign_ins([user.id])
        return self._out(user, last.get(user.id))

    # -- changing ----------------------------------------------------------------------

    async def create(self, principal: Principal, body: StaffAccountIn) -> StaffAccountOut:
        """A new staff account (``UsernameTaken``, ``WeakPassword``)."""
        roles = [Role(role) for role in dict.fromkeys(body.roles)]
        user = await self.auth.create_staff_user(
            body.username, body.password, roles, name=body.name
        )
        await self.audit.record(
            user_actor(principal.user_id),
            "staff_account_created",
            user.id,
            {"roles": _staff_roles(user.roles)},
        )
        return self._out(user, None)

    async def reset_password(self, principal: Principal, user_id: str, password: str) -> None:
        """A new password (``WeakPassword``); every session of the account ends."""
        user = await self._staff_user(user_id)
        check_staff_password(password, user.username or "")
        password_hash = await asyncio.to_thread(hash_password, password)
        if not await self.users.set_password(user.id, password_hash, self.clock.now()):
            raise NotFound()
        await self.auth.revoke_all_sessions(user.id, "password_reset")
        await self.audit.record(user_actor(principal.user_id), "staff_password_reset", user.id)

    async def set_roles(
        self, principal: Principal, user_id: str, roles: list[str]
    ) -> StaffAccountOut:
        """Exactly these staff roles (other roles the account holds stay); a role taken
        away ends every session of the account. Not one's own ``admin`` role."""
        user = await self._staff_user(user_id)
        wanted = [role for role in STAFF_ROLES if role.value in roles]
        if user.id == principal.user_id and Role.admin not in wanted:
            raise SelfLockout(details={"fields": {"roles": "your own admin role"}})
        before = _staff_roles(user.roles)
        after = [role.value for role in wanted]
        if before == after:
            return await self.get(user.id)
        kept = [role for role in user.roles if role not in STAFF_ROLES]
        changed = await self.users.set_roles(user.id, [*kept, *wanted], self.clock.now())
        if changed is None:
            raise NotFound()
        if set(before) - set(after):
            await self.auth.revoke_all_sessions(user.id, "roles_changed")
        await self.audit.record(
            user_actor(principal.user_id),
            "staff_roles_changed",
            user.id,
            {"roles_before": before, "roles_after": after},
        )
        return await self.get(user.id)

    async def set_disabled(
        self, principal: Principal, user_id: str, *, disabled: bool
    ) -> StaffAccountOut:
        """Disable the account (every session ends at once; it signs in nowhere) or
        enable it again. Not one's own. Doing it twice changes nothing the second time."""
        user = await self._staff_user(user_id)
        if disabled and user.id == principal.user_id:
            raise SelfLockout(details={"fields": {"account": "your own account"}})
        now = self.clock.now()
        changed = await self.users.set_disabled(user.id, now if disabled else None, now)
        if disabled:  # also when it already was: a retry finishes what a failure left
            await self.auth.revoke_all_sessions(user.id, "account_disabled")
        if changed is not None:
            action = "staff_account_disabled" if disabled else "staff_account_enabled"
            await self.audit.record(user_actor(principal.user_id), action, user.id)
        return await self.get(user.id)
