"""Media as the API shows it (API.md, "Media")."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from server.rest import ApiIn, ApiOut


class MediaUrls(ApiOut):
    thumb: str
    medium: str
    large: str


class MediaOut(ApiOut):
    id: str
    content_type: str
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    bytes: int = Field(ge=0)
    lqip: str = Field(description="A tiny blurred placeholder as a data URI")
    urls: MediaUrls


class MediaUploadForm(ApiIn):
    """The multipart form of ``POST /api/v1/media`` (documentation only: it is streamed)."""

    file: bytes = Field(json_schema_extra={"format": "binary", "contentMediaType": "image/*"})
    purpose: Literal["avatar", "story", "checkin", "event", "innovation"] = "story"
