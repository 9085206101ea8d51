"""Markdown to safe HTML: markdown-it-py renders (raw HTML off), nh3 sanitises.

No script, no event handlers, no ``javascript:`` URLs (only http, https, mailto),
and images only from our own media (``/media/...`` or ``PUBLIC_BASE_URL/media/...``).
"""

from __future__ import annotations

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "s",
    "blockquote", "ul", "ol", "li", "code", "pre", "a", "img", "table", "thead",
    "tbody", "tr", "th", "td",
}  # fmt: skip
_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}}


@lru_cache(maxsize=1)
def _renderer() -> MarkdownIt:
    # commonmark with raw HTML disabled: "<script>" in the source stays text.
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def render(markdown: str, public_base_url: str) -> str:
    """Sanitised HTML for ``markdown``."""
    own_media = (public_base_url.rstrip("/") + "/media/", "/media/")

    def keep(element: str, attribute: str, value: str) -> str | None:
        if element == "img" and attribute == "src":
            return value if value.startswith(own_media) else None
        return value

    html = _renderer().render(markdown)
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        attribute_filter=keep,
        link_rel="noopener noreferrer nofollow",
    )
