"""OpenAPI 3.1, built from the router and each route's ``RouteMeta`` and pydantic models."""

from __future__ import annotations

import re
from typing import Any, cast

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from server.api import API_PREFIX, RouteMeta, route_meta
from server.authorisation import Access, Whose

_PATH_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
_REF = "#/components/schemas/{model}"

_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    304: "Not Modified",
}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "request_id"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "examples": ["invalid_request"]},
                "message": {"type": "string"},
                "details": {"type": "object"},
            },
        },
        "request_id": {"type": "string"},
    },
}


def _models(routes: list[tuple[str, str, RouteMeta]]) -> list[type[BaseModel]]:
    seen: dict[type[BaseModel], None] = {}
    for _, _, meta in routes:
        for model in (meta.body, meta.response):
            if model is not None:
                seen[model] = None
    return list(seen)


def _error_response(description: str, codes: list[str]) -> dict[str, Any]:
    schema: dict[str, Any] = {"$ref": "#/components/schemas/Error"}
    return {
        "description": f"{description} (error codes: {', '.join(codes)})",
        "content": {"application/json": {"schema": schema}},
    }


def _access_extension(access: Access) -> dict[str, Any]:
    """The route's declared access, machine-readable (``server/authorisation.py``)."""
    return {
        "signed_in": access.needs_token,
        "roles": list(access.required_roles),
        "objects": [
            {
                "name": rule.name,
                "in": "body" if rule.in_body else "path",
                "kind": rule.kind,
                "whose": str(rule.whose),
            }
            for rule in access.objects
        ],
    }


def _operation(
    method: str, path: str, meta: RouteMeta, refs: dict[type[BaseModel], dict[str, Any]]
) -> dict[str, Any]:
    operation_id = f"{method.lower()}_{re.sub(r'[^a-z0-9]+', '_', path.lower()).strip('_')}"
    op: dict[str, Any] = {
        "summary": meta.summary,
        "operationId": operation_id,
        "tags": [meta.tag],
    }
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAM.findall(path)
    ]
    if meta.query is not None:
        query_schema = meta.query.model_json_schema(ref_template=_REF)
        required = set(query_schema.get("required", []))
        for name, prop in query_schema.get("properties", {}).items():
            params.append(
                {"name": name, "in": "query", "required": name in required, "schema": prop}
            )
    if params:
        op["parameters"] = params
    if meta.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {meta.body_content_type: {"schema": refs[meta.body]}},
        }
    success: dict[str, Any] = {"description": _STATUS_TEXT.get(meta.status, "Success")}
    if meta.response is not None:
        success["content"] = {"application/json": {"schema": refs[meta.response]}}
    elif meta.content_type is not None:
        # Text as a string; pictures, spreadsheets and other files as bytes.
        text = meta.content_type.startswith("text/")
        body_schema = {"type": "string"} if text else {"type": "string", "format": "binary"}
        success["content"] = {meta.content_type: {"schema": body_schema}}
    responses: dict[str, Any] = {str(meta.status): success}
    for status, description in meta.extra_responses.items():
        responses[str(status)] = {"description": description}

    if _PATH_PARAM.search(path):
        # Objects that do not exist, or that the caller may not see, are both 404.
        responses["404"] = _error_response("No such object (or not yours)", ["not_found"])
    access = meta.access
    is_api = path.startswith(API_PREFIX)
    if is_api:
        bad_request = ["invalid_request"]
        responses["400"] = _error_response("Body is not JSON", bad_request)
        invalid = [*bad_request, *[c for c in meta.errors if c.endswith("_invalid")]]
        if meta.query is not None and "cursor" in meta.query.model_fields:
            invalid.append("invalid_cursor")  # server/paging.py
        # Someone else's object named in the body is refused as if it did not exist.
        refused = [rule.code for rule in access.objects if rule.in_body]
        invalid += [code for code in dict.fromkeys(refused) if code not in invalid]
        responses["422"] = _error_response("Invalid input", invalid)
        if meta.rate_limited:
            responses["429"] = _error_response("Too many requests", ["rate_limited"])
    if access.needs_token:
        op["security"] = [{"bearerAuth": []}]
        responses["401"] = _error_response("Missing, invalid or revoked token", ["unauthorized"])
    else:
        op["security"] = [{}, {"bearerAuth": []}]
    reasons, codes = [], []
    if access.required_roles:
        reasons.append(f"Needs role {' or '.join(access.required_roles)}")
        codes.append("forbidden")
    for rule in access.objects:
        if rule.whose is Whose.not_owner:
            reasons.append(f"Not on the caller's own {rule.kind}")
            codes.append(rule.code)
    if codes:
        responses["403"] = _error_response("; ".join(reasons), codes)
    op["x-access"] = _access_extension(access)
    specific = [c for c in meta.errors if c not in ("rate_limited", "unavailable")]
    if specific:
        responses.setdefault("default", _error_response("Other errors of this operation", specific))
    if "unavailable" in meta.errors:
        responses["503"] = _error_response("A backing service is unavailable", ["unavailable"])
    op["responses"] = responses
    return op


def build_openapi(app: web.Application, title: str, version: str) -> dict[str, Any]:
    """The whole document; every route that declared a ``RouteMeta`` is in it."""
    routes: list[tuple[str, str, RouteMeta]] = []
    for route in app.router.routes():
        meta = route_meta(route.handler)
        if meta is None or route.resource is None or route.method == "HEAD":
            continue
        routes.append((route.method, route.resource.canonical, meta))

    models = _models(routes)
    keyed: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (m, "validation") for m in models if any(r[2].body is m for r in routes)
    ]
    keyed += [(m, "serialization") for m in models if any(r[2].response is m for r in routes)]
    schema_map, definitions = models_json_schema(keyed, ref_template=_REF)
    refs: dict[type[BaseModel], dict[str, Any]] = {}
    for (model, _mode), schema in schema_map.items():
        refs.setdefault(cast(type[BaseModel], model), dict(schema))

    paths: dict[str, dict[str, Any]] = {}
    for method, path, meta in sorted(routes, key=lambda r: (r[1], r[0])):
        paths.setdefault(path, {})[method.lower()] = _operation(method, path, meta, refs)

    components = dict(definitions.get("$defs", {}))
    components["Error"] = ERROR_SCHEMA
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": (
                "匠心 jiangxin: the backend of Zhuzhou's 劳模精神、劳动精神、工匠精神 "
                "mini-program. Errors use one envelope; see API.md."
            ),
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
