"""JSON at the edge: parse requests into pydantic models, answer with orjson."""

from __future__ import annotations

import functools
import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from server.errors import AppError, InvalidRequest
from server.prebuilt import PRIVATE_REVALIDATED, PUBLIC_REVALIDATED, JsonBlocks

ModelT = TypeVar("ModelT", bound=BaseModel)

JSON_CONTENT_TYPE = "application/json"


def no_default_in_schema(schema: dict[str, Any]) -> None:
    """``json_schema_extra`` for optional-but-never-null fields: a ``None`` default is not
    validated, an explicit null is refused, and the document must not claim null."""
    schema.pop("default", None)


def patch_field(**constraints: Any) -> Any:
    """A field of a PATCH body: may be left out, may not be null (null would "clear" a
    value that must exist). Typed ``Any`` so it can default a non-optional annotation."""
    return Field(default=None, json_schema_extra=no_default_in_schema, **constraints)


class ApiIn(BaseModel):
    """Base of every request model: unknown fields are refused (mass assignment, injection)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ApiQuery(ApiIn):
    """Base of query-string models: frozen, because ``read_query`` shares instances."""

    model_config = ConfigDict(frozen=True)  # merged with ApiIn's

    @functools.cached_property
    def canonical(self) -> str:
        """The validated query as JSON, the same for every spelling of it (a cache key)."""
        return self.model_dump_json()


QueryT = TypeVar("QueryT", bound=ApiQuery)


class ApiOut(BaseModel):
    """Base of every response model."""

    model_config = ConfigDict(from_attributes=True)


def _operator_key_path(value: Any, path: str = "") -> str | None:
    """The path of the first key that looks like a MongoDB operator or dotted path, if any."""
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if str(key).startswith("$") or "." in str(key):
                return here
            found = _operator_key_path(item, here)
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _operator_key_path(item, f"{path}[{index}]")
            if found:
                return found
    return None


async def read_json(request: web.Request) -> Any:
    """The request body as JSON; 400 when it is not JSON, 422 when it smuggles operators."""
    raw = await request.read()  # bounded by client_max_size: 413 past it
    if not raw:
        raise AppError(
            message="请求体为空，需要 JSON", status=400, details={"fields": {"body": "empty"}}
        )
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise AppError(
            message="请求体不是合法的 JSON", status=400, details={"reason": exc.msg}
        ) from None
    bad_key = _operator_key_path(data)
    if bad_key is not None:
        raise InvalidRequest.for_fields({bad_key: "keys may not start with '$' or contain '.'"})
    return data


async def read_body(request: web.Request, model: type[ModelT]) -> ModelT:
    """Parse and validate the JSON body; pydantic errors become 422 via the middleware.

    Strictly, as JSON: a boolean is ``true``/``false`` (not ``0`` or ``"yes"``), a
    number is a number (not ``"5"``), while dates and enums come as JSON strings. A
    value of the wrong type is refused rather than guessed at."""
    data = await read_json(request)
    if not isinstance(data, dict):
        raise InvalidRequest.for_fields({"body": "must be a JSON object"})
    # Validated from the bytes (aiohttp keeps them), because pydantic's strict mode on
    # Python objects would refuse a date given as a string, which JSON cannot avoid.
    return model.model_validate_json(await request.read(), strict=True)


_QUERY_MEMO_ENTRIES = 1024
_query_memo: OrderedDict[tuple[type[ApiQuery], str], ApiQuery] = OrderedDict()


def read_query(request: web.Request, model: type[QueryT]) -> QueryT:
    """Validate query parameters (single values only) against ``model``.

    Validation is a pure function of the query string, and hot feeds are asked the same
    few query strings again and again, so the models of recent ones are remembered
    (only valid ones: a bad query is refused every time).
    """
    # The raw string: ``query_string`` is partly decoded, so ``q=%2B`` and ``q=%252B``
    # would share a key while meaning "+" and "%2B".
    memo_key = (model, request.rel_url.raw_query_string)
    known = _query_memo.get(memo_key)
    if known is not None:
        _query_memo.move_to_end(memo_key)
        return known  # type: ignore[return-value]  # stored under its own model class
    params: dict[str, str] = {}
    for key in request.query:
        values = request.query.getall(key)
        if len(values) > 1:
            raise InvalidRequest.for_fields({key: "given more than once"})
        params[key] = values[0]
    parsed = model.model_validate(params)
    _query_memo[memo_key] = parsed
    if len(_query_memo) > _QUERY_MEMO_ENTRIES:
        _query_memo.popitem(last=False)
    return parsed


def etag_of(body: bytes) -> str:
    """A strong ETag for ``body``."""
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def respond_revalidated(
    request: web.Request, body: bytes, *, private: bool, etag: str | None = None
) -> web.Response:
    """JSON ``body`` with a strong ``ETag`` (``etag`` when the caller has it already);
    304 when the client already holds these bytes.

    ``Cache-Control: no-cache`` (not ``no-store``) lets the client keep the body and ask
    again cheaply; ``private`` when the answer depends on who asks (liked, favourited).
    A cached answer's public blocks are built once (``CachedJson.public``); these are
    built for this answer.
    """
    cache_control = PRIVATE_REVALIDATED if private else PUBLIC_REVALIDATED
    blocks = JsonBlocks(body, etag or etag_of(body), cache_control)
    return blocks.answer(request.headers.get("If-None-Match"))


def json_bytes(data: Any) -> bytes:
    return orjson.dumps(data)


def respond(
    data: BaseModel | Mapping[str, Any] | list[Any] | None,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """A JSON response; models are dumped in JSON mode, ``None`` gives an empty 204."""
    if status == 204 or data is None:
        return web.Response(status=204, headers=headers)
    payload = data.model_dump(mode="json") if isinstance(data, BaseModel) else data
    return web.Response(
        body=orjson.dumps(payload),
        status=status,
        content_type=JSON_CONTENT_TYPE,
        headers=headers,
    )
