"""Who may call a route, and on whose objects: the one declaration every route makes.

Each route declares an ``Access`` in its metadata (``server/api.py`` refuses a route
without one): ``Access.public()`` (a token is optional), ``Access.signed_in()`` (any
signed-in user) or ``Access.roles(Role.editor, ...)`` (one of those roles; ``admin``
holds every role). The middleware enforces that part before the handler runs (401
without a valid token, 403 without the role). Routes that name an object add what the
room's service enforces once the object is loaded:

- ``.on(param, kind, whose)``: the path parameter ``param`` names an object of
  ``kind``; ``whose`` says whose objects the caller may reach (``Whose``). Objects
  other users must not see are 404, as if they did not exist (API.md).
- ``.uses(*fields, kind=, code=)``: those body fields refer to objects of ``kind``
  that must be the caller's own (a photo shown by a story or as an avatar);
  someone else's is 422 ``code``, and nothing is written.

The OpenAPI document is built from the same declaration, and
tests/test_authorisation_matrix.py calls every route as every role on its own and on
someone else's objects and checks the answer against ``Access.expected``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

from server.errors import Forbidden, Unauthorized
from server.principal import Principal, Role, holds_any


class Whose(StrEnum):
    """Whose objects a caller who passed the role check may see or act on."""

    anyone = "anyone"
    """Shared objects (people, published stories): everyone let in gets the same."""
    owner = "owner"
    """The caller's own only; someone else's is 404 (it is not confirmed to exist)."""
    not_owner = "not_owner"
    """Anyone's but the caller's own, which is 403 (four eyes: nobody publishes what
    they wrote)."""
    owner_or_admin = "owner_or_admin"
    """The caller's own (as the room defines it: an organizer's event, a class they
    teach or joined, their check-in), or anyone's for an admin; someone else's is 404
    to everyone else."""
    link = "link"
    """Whoever holds the signed link the API gave out to those who may see the object
    (private photos: their owner); its bare id is 404 to everyone, owner included."""


@dataclass(frozen=True, slots=True)
class ObjectRule:
    """One object a route names, and who may reach it."""

    name: str
    """The path parameter, or the body field (``in_body``)."""
    kind: str
    """What it names (``story``, ``comment``, ``person``, ``photo``...): the matrix test
    makes one of the caller's and one of someone else's with the factory of that kind."""
    whose: Whose
    in_body: bool = False
    code: str = "not_found"
    """The error code of a refused object (403 or 404 or, in a body, 422)."""

    def refusal(self, own: bool, roles: Collection[Role] = ()) -> tuple[int, str] | None:
        """Status and error code when the object is the caller's own (``own``) or
        someone else's, for a caller holding ``roles``; None when the rule lets the
        caller through."""
        if self.whose is Whose.owner_or_admin:
            return None if own or Role.admin in roles else (404, self.code)
        if self.whose is Whose.not_owner:
            return (403, self.code) if own else None
        if self.whose in (Whose.owner, Whose.link) and not own:
            return (422 if self.in_body else 404), self.code
        return None


@dataclass(frozen=True, slots=True)
class Access:
    """Who may call a route (``needs_token``, ``required_roles``) and on whose objects."""

    needs_token: bool
    required_roles: tuple[Role, ...] = ()
    objects: tuple[ObjectRule, ...] = ()

    @classmethod
    def public(cls) -> Access:
        """Anyone; a valid token, if sent, identifies the caller (a 401 if invalid)."""
        return cls(needs_token=False)

    @classmethod
    def signed_in(cls) -> Access:
        """Any signed-in user (401 without a valid token)."""
        return cls(needs_token=True)

    @classmethod
    def roles(cls, *roles: Role) -> Access:
        """A signed-in user holding one of ``roles`` (admin holds them all); else 403."""
        if not roles:
            raise ValueError("Access.roles() needs at least one role; use Access.signed_in()")
        return cls(needs_token=True, required_roles=tuple(roles))

    def on(self, param: str, kind: str, whose: Whose = Whose.anyone, *, code: str = "") -> Access:
        """The path parameter ``param`` names an object of ``kind``, reachable as
        ``whose`` says; ``code`` is the refusal's error code (not_found for a 404)."""
        if whose is Whose.not_owner and not code:
            raise ValueError(f"{param}: a not_owner refusal is a 403 and needs its own code")
        rule = ObjectRule(param, kind, whose, code=code or "not_found")
        return dataclasses.replace(self, objects=(*self.objects, rule))

    def uses(self, *fields: str, kind: str, code: str) -> Access:
        """Each body field of ``fields`` refers to objects of ``kind`` of the caller's own;
        someone else's is 422 ``code`` (and nothing is written)."""
        rules = tuple(ObjectRule(f, kind, Whose.owner, in_body=True, code=code) for f in fields)
        return dataclasses.replace(self, objects=(*self.objects, *rules))

    def admit(self, principal: Principal | None) -> None:
        """The gate the middleware applies before the handler: 401, then 403."""
        refused = self.admits(principal.roles if principal is not None else None)
        if refused is None:
            return
        if refused[0] == 401:
            raise Unauthorized()
        raise Forbidden(details={"required_roles": sorted(self.required_roles)})

    def admits(self, roles: Collection[Role] | None) -> tuple[int, str] | None:
        """What the gate answers a caller holding ``roles`` (None: anonymous): 401, 403
        (with their codes), or None when the caller is let in."""
        if not self.needs_token:
            return None
        if roles is None:
            return 401, Unauthorized.code
        if self.required_roles and not holds_any(roles, self.required_roles):
            return 403, Forbidden.code
        return None

    def expected(
        self, roles: Collection[Role] | None, others: Collection[str], success: int
    ) -> tuple[int, str | None]:
        """The status (and error code) this declaration promises a caller holding
        ``roles`` (None: anonymous) whose objects are all their own except those named
        in ``others`` (someone else's); ``success`` is the route's own status."""
        refused = self.admits(roles)
        for rule in self.objects:
            if refused is not None:
                break
            refused = rule.refusal(own=rule.name not in others, roles=roles or ())
        return refused if refused is not None else (success, None)
