"""The auth room's edge: request and response models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from handlers.auth.passwords import MAX_LENGTH
from handlers.media.schemas import MediaOut
from server.paging import Page
from server.principal import Role
from server.rest import ApiIn, ApiOut, patch_field

Username = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")


class WechatLoginIn(ApiIn):
    code: str = Field(min_length=1, max_length=128, description="The code from wx.login")


class PasswordLoginIn(ApiIn):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class RefreshIn(ApiIn):
    refresh_token: str = Field(min_length=1, max_length=256)


class UserOut(ApiOut):
    id: str
    nickname: str
    avatar: MediaOut | None = None
    roles: list[Role]
    school_id: str | None = None
    class_id: str | None = None
    created_at: datetime


class TokensOut(ApiOut):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105
    expires_in: int = Field(description="Seconds until the access token expires")
    user: UserOut


class MePatchIn(ApiIn):
    nickname: str = patch_field(min_length=1, max_length=32)
    avatar_media_id: str | None = Field(None, min_length=1, max_length=64)
    real_name: str | None = Field(None, min_length=1, max_length=32)
    phone: str | None = Field(None, pattern=r"^1[3-9]\d{9}$", description="Mainland mobile")


class ErasedOut(ApiOut):
    status: Literal["erased"] = "erased"


class ExportOut(ApiOut):
    """Everything held about the caller, one section per room."""

    user_id: str
    exported_at: datetime
    sections: dict[str, Any]


# -- staff accounts, as admins manage them (handlers/auth/staff.py) --------------------------

StaffRole = Literal["teacher", "editor", "reviewer", "organizer", "admin"]
"""The roles an admin gives a staff account (``resident`` is everyone's; ``student``
comes with joining a class)."""
STAFF_ROLES: tuple[Role, ...] = (
    Role.teacher,
    Role.editor,
    Role.reviewer,
    Role.organizer,
    Role.admin,
)
NewPassword = Annotated[
    str,
    # Kept as typed (no stripping): a space at either end is refused instead, since the
    # API's sign-in strips what it is sent and could never match it.
    StringConstraints(strip_whitespace=False, max_length=MAX_LENGTH, pattern=r"^\S(?:.*\S)?$"),
]
"""A new staff password; its strength is ``check_staff_password``'s to judge."""


class StaffAccountIn(ApiIn):
    username: str = Username
    name: str = Field(min_length=1, max_length=32, description="The name others see")
    roles: list[StaffRole] = Field(min_length=1, max_length=len(STAFF_ROLES))
    password: NewPassword


class StaffRolesIn(ApiIn):
    roles: list[StaffRole] = Field(min_length=1, max_length=len(STAFF_ROLES))


class PasswordResetIn(ApiIn):
    password: NewPassword


class StaffAccountOut(ApiOut):
    id: str
    username: str
    name: str
    roles: list[Role]
    disabled_at: datetime | None
    last_sign_in_at: datetime | None = Field(
        description="The latest sign-in its sessions still record (null: none known)"
    )
    created_at: datetime

    @property
    def staff_roles(self) -> list[Role]:
        return [role for role in STAFF_ROLES if role in self.roles]


class StaffAccountPage(Page[StaffAccountOut]):
    pass
