"""The auth room's edge: request and response models."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from handlers.media.schemas import MediaOut
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
