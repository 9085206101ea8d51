"""The comment moderation queue (评论审核) for reviewers: pending comments with the
story each is on, approved or rejected one by one or a page's worth at once.

Through the stories room's ``CommentService`` with the signed-in reviewer's
``Principal``: the first decision stands (a double submit decides nothing twice), and
nobody moderates their own comment (four eyes, 403 ``four_eyes_required``; in a bulk
decision it is left for another reviewer and counted as such).
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

from aiohttp import web
from pydantic import Field

from handlers.console.keys import CONSOLE_PAGES
from handlers.console.pages import see_other, set_back
from handlers.console.stories import REVIEWERS, shanghai_time
from handlers.stories.comments import MODERATE_MANY_MAX, ModerationOutcome, OwnCommentModeration
from handlers.stories.keys import COMMENT_SERVICE, EDITORIAL_SERVICE
from server.access import current_principal
from server.api import CONSOLE_PREFIX, ApiRoutes
from server.authorisation import Whose
from server.errors import InvalidRequest, NotFound
from server.ids import canonical_object_id, path_object_id
from server.paging import PageQuery
from server.rest import read_query

routes = ApiRoutes(prefix=CONSOLE_PREFIX, tag="console", html=True)

QUEUE = CONSOLE_PREFIX + "/comments"
MODERATE = REVIEWERS.on("comment_id", "comment", Whose.not_owner, code="four_eyes_required")
Decision = Literal["approve", "reject"]


class QueueQuery(PageQuery):
    """A page of the queue, and what the last decision did (shown once, after it)."""

    limit: int = Field(MODERATE_MANY_MAX, ge=1, le=MODERATE_MANY_MAX)
    done: Decision | None = None
    moderated: int = Field(0, ge=0, le=MODERATE_MANY_MAX)
    already_decided: int = Field(0, ge=0, le=MODERATE_MANY_MAX)
    four_eyes_required: int = Field(0, ge=0, le=MODERATE_MANY_MAX)
    not_found: int = Field(0, ge=0, le=MODERATE_MANY_MAX)


def _after(decision: Decision, outcomes: dict[str, ModerationOutcome]) -> web.Response:
    counts = Counter(outcomes.values())
    query = "&".join(f"{name}={count}" for name, count in sorted(counts.items()))
    return see_other(f"{QUEUE}?done={decision}&{query}")


@routes.get("/comments", "The moderation queue: pending comments, oldest first, with "
            "the story each is on", access=REVIEWERS)  # fmt: skip
async def comment_queue(request: web.Request) -> web.Response:
    query = read_query(request, QueueQuery)
    page = await request.app[COMMENT_SERVICE].pending_page(query)
    titles = await request.app[EDITORIAL_SERVICE].titles_by_id(
        [item.story_id for item in page.items]
    )
    context = {
        "page": page,
        "titles": titles,
        "my_id": current_principal(request).user_id,
        "result": query if query.done else None,
        "when": shanghai_time,
    }
    return request.app[CONSOLE_PAGES].render(request, "comments/queue.html", context)


async def _moderate_one(request: web.Request, decision: Decision) -> web.Response:
    set_back(request, QUEUE)
    comment_id = path_object_id(request, "comment_id")
    comments = request.app[COMMENT_SERVICE]
    outcomes = await comments.moderate_many(
        current_principal(request), [comment_id], decision == "approve"
    )
    if outcomes[comment_id] == "four_eyes_required":
        raise OwnCommentModeration()
    if outcomes[comment_id] == "not_found":
        raise NotFound()
    return _after(decision, outcomes)


@routes.post("/comments/{comment_id}/approve", "Approve a pending comment (someone "
             "else's: never one's own)", access=MODERATE, status=303,
             errors=("csrf_invalid", "four_eyes_required"))  # fmt: skip
async def approve_comment(request: web.Request) -> web.Response:
    return await _moderate_one(request, "approve")


@routes.post("/comments/{comment_id}/reject", "Reject a pending comment (someone "
             "else's: never one's own)", access=MODERATE, status=303,
             errors=("csrf_invalid", "four_eyes_required"))  # fmt: skip
async def reject_comment(request: web.Request) -> web.Response:
    return await _moderate_one(request, "reject")


@routes.post(
    "/comments/moderate",
    f"Approve or reject the comments checked (ids, 1 to {MODERATE_MANY_MAX}; one's own "
    "are left for another reviewer)",
    access=REVIEWERS,
    status=303,
    errors=("csrf_invalid", "invalid_request"),
)
async def moderate_comments(request: web.Request) -> web.Response:
    set_back(request, QUEUE)
    form = await request.post()
    decision = form.get("decision")
    if decision not in ("approve", "reject"):
        raise InvalidRequest.for_fields({"decision": "approve or reject"}, "请选择通过或拒绝")
    values = form.getall("ids", [])
    if not values:
        raise InvalidRequest.for_fields({"ids": "none checked"}, "请先勾选要处理的评论")
    if len(values) > MODERATE_MANY_MAX:
        raise InvalidRequest.for_fields(
            {"ids": f"at most {MODERATE_MANY_MAX}"}, f"一次最多处理 {MODERATE_MANY_MAX} 条评论"
        )
    ids = [canonical_object_id(value) for value in values]
    valid = [comment_id for comment_id in ids if comment_id is not None]
    if len(valid) != len(ids):
        raise InvalidRequest.for_fields(
            {"ids": "not comment ids"}, "评论编号无效，请刷新页面后重试"
        )
    outcomes = await request.app[COMMENT_SERVICE].moderate_many(
        current_principal(request), valid, decision == "approve"
    )
    return _after("approve" if decision == "approve" else "reject", outcomes)
