"""Media as the API shows it (API.md, "Media")."""

from __future__ import annotations

from pydantic import Field

from server.rest import ApiOut


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
