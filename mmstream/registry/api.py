"""HTTP routes of the embedded registry, with Confluent's JSON shapes and error codes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from mmstream.registry import errors
from mmstream.registry.store import SchemaStore, Version

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
GLOBAL_MODE = "READWRITE"
STORE_KEY: web.AppKey[SchemaStore] = web.AppKey("store", SchemaStore)
LOCK_KEY: web.AppKey[asyncio.Lock] = web.AppKey("lock", asyncio.Lock)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def reply(body: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(body), status=status, content_type=CONTENT_TYPE)


@web.middleware
async def confluent_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except errors.RegistryError as exc:
        return reply({"error_code": exc.error_code, "message": exc.message}, exc.http_status)
    except web.HTTPNotFound:
        return reply({"error_code": 404, "message": "HTTP 404 Not Found"}, 404)


def store_of(request: web.Request) -> SchemaStore:
    return request.app[STORE_KEY]


def flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "false").lower() == "true"


async def schema_body(request: web.Request) -> str:
    try:
        body = await request.json()
    except json.JSONDecodeError:
        raise errors.RegistryError(422, 42201, "Request body is not JSON") from None
    if body.get("references"):
        raise errors.invalid_schema("schema references are not supported by this registry")
    if body.get("schemaType", "AVRO") != "AVRO":
        raise errors.invalid_schema(f"schemaType {body['schemaType']} is not supported")
    schema = body.get("schema")
    if not isinstance(schema, str):
        raise errors.invalid_schema("field 'schema' must be a string")
    return schema


def version_body(v: Version) -> dict[str, Any]:
    return {"subject": v.subject, "version": v.version, "id": v.schema_id, "schema": v.schema}


async def root(_: web.Request) -> web.Response:
    return reply({})


async def list_subjects(request: web.Request) -> web.Response:
    return reply(store_of(request).subject_names(flag(request, "deleted")))


async def list_versions(request: web.Request) -> web.Response:
    store = store_of(request)
    versions = store.live_versions(request.match_info["subject"], flag(request, "deleted"))
    return reply([v.version for v in versions])


def requested_version(request: web.Request) -> Version:
    return store_of(request).version(
        request.match_info["subject"], request.match_info["version"], flag(request, "deleted")
    )


async def get_version(request: web.Request) -> web.Response:
    return reply(version_body(requested_version(request)))


async def get_version_schema(request: web.Request) -> web.Response:
    return web.Response(text=requested_version(request).schema, content_type=CONTENT_TYPE)


async def register(request: web.Request) -> web.Response:
    schema = await schema_body(request)
    async with request.app[LOCK_KEY]:
        v = store_of(request).register(request.match_info["subject"], schema)
    return reply({"id": v.schema_id})


async def lookup(request: web.Request) -> web.Response:
    schema = await schema_body(request)
    v = store_of(request).lookup(request.match_info["subject"], schema, flag(request, "deleted"))
    return reply(version_body(v))


async def schema_by_id(request: web.Request) -> web.Response:
    schema = store_of(request).schema_by_id(int(request.match_info["id"]))
    return reply({"schema": schema})


async def schema_by_id_raw(request: web.Request) -> web.Response:
    schema = store_of(request).schema_by_id(int(request.match_info["id"]))
    return web.Response(text=schema, content_type=CONTENT_TYPE)


async def subjects_of_id(request: web.Request) -> web.Response:
    store = store_of(request)
    store.schema_by_id(int(request.match_info["id"]))
    usages = store.usages(int(request.match_info["id"]))
    return reply(sorted({v.subject for v in usages if not v.deleted}))


async def versions_of_id(request: web.Request) -> web.Response:
    store = store_of(request)
    store.schema_by_id(int(request.match_info["id"]))
    usages = store.usages(int(request.match_info["id"]))
    return reply([{"subject": v.subject, "version": v.version} for v in usages if not v.deleted])


async def schema_types(_: web.Request) -> web.Response:
    return reply(["AVRO"])


async def get_config(request: web.Request) -> web.Response:
    subject = request.match_info.get("subject")
    store = store_of(request)
    if (
        subject is not None
        and subject not in store.configs
        and not flag(request, "defaultToGlobal")
    ):
        raise errors.RegistryError(
            404, 40408, f"Subject '{subject}' does not have subject-level compatibility configured"
        )
    return reply({"compatibilityLevel": store.compatibility(subject)})


async def put_config(request: web.Request) -> web.Response:
    body = await request.json()
    async with request.app[LOCK_KEY]:
        level = store_of(request).set_compatibility(
            request.match_info.get("subject"), body.get("compatibility")
        )
    return reply({"compatibility": level})


async def delete_config(request: web.Request) -> web.Response:
    async with request.app[LOCK_KEY]:
        level = store_of(request).delete_compatibility(request.match_info["subject"])
    return reply({"compatibilityLevel": level})


async def get_mode(request: web.Request) -> web.Response:
    """The mode is always READWRITE here: no subject has a mode of its own (Confluent answers
    40409 for such a subject unless `defaultToGlobal=true`)."""
    subject = request.match_info.get("subject")
    if subject is not None and not flag(request, "defaultToGlobal"):
        raise errors.subject_mode_not_configured(subject)
    return reply({"mode": GLOBAL_MODE})


async def put_mode(request: web.Request) -> web.Response:
    raise errors.operation_not_permitted(
        f"this registry stays in {GLOBAL_MODE} mode; modes cannot be changed"
    )


async def check_compatibility(request: web.Request) -> web.Response:
    schema = await schema_body(request)
    subject, version = request.match_info["subject"], request.match_info.get("version")
    store = store_of(request)
    if subject not in store.subjects:
        raise errors.subject_not_found(subject)
    problems = store.check(subject, schema, version)
    body: dict[str, Any] = {"is_compatible": not problems}
    if flag(request, "verbose"):
        body["messages"] = problems
    return reply(body)


async def delete_subject(request: web.Request) -> web.Response:
    async with request.app[LOCK_KEY]:
        deleted = store_of(request).delete_subject(
            request.match_info["subject"], flag(request, "permanent")
        )
    return reply(deleted)


async def delete_version(request: web.Request) -> web.Response:
    async with request.app[LOCK_KEY]:
        version = store_of(request).delete_version(
            request.match_info["subject"], request.match_info["version"], flag(request, "permanent")
        )
    return reply(version)


async def no_associations(_: web.Request) -> web.Response:
    # confluent-kafka >= 2.14 asks for associations first and falls back to <topic>-value on 404.
    return reply({"error_code": 40410, "message": "Associations are not supported"}, 404)


def create_app(store: SchemaStore) -> web.Application:
    app = web.Application(middlewares=[confluent_errors])
    app[STORE_KEY] = store
    app[LOCK_KEY] = asyncio.Lock()
    s, v = "/subjects/{subject}", "/subjects/{subject}/versions/{version}"
    app.add_routes(
        [
            web.get("/", root),
            web.get("/subjects", list_subjects),
            web.post(s, lookup),
            web.delete(s, delete_subject),
            web.get(s + "/versions", list_versions),
            web.post(s + "/versions", register),
            web.get(v, get_version),
            web.get(v + "/schema", get_version_schema),
            web.delete(v, delete_version),
            web.get("/schemas/ids/{id:\\d+}", schema_by_id),
            web.get("/schemas/ids/{id:\\d+}/schema", schema_by_id_raw),
            web.get("/schemas/ids/{id:\\d+}/subjects", subjects_of_id),
            web.get("/schemas/ids/{id:\\d+}/versions", versions_of_id),
            web.get("/schemas/types", schema_types),
            web.get("/config", get_config),
            web.put("/config", put_config),
            web.get("/config/{subject}", get_config),
            web.put("/config/{subject}", put_config),
            web.delete("/config/{subject}", delete_config),
            web.get("/mode", get_mode),
            web.put("/mode", put_mode),
            web.get("/mode/{subject}", get_mode),
            web.put("/mode/{subject}", put_mode),
            web.post("/compatibility/subjects/{subject}/versions", check_compatibility),
            web.post("/compatibility/" + v.lstrip("/"), check_compatibility),
            web.get("/associations/{tail:.*}", no_associations),
        ]
    )
    return app
