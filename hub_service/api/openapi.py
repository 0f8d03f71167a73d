"""The OpenAPI 3 document of the service, served at ``/api/v1/openapi.json``.

Request bodies are the very models the API validates with (``specs``); results
are described by the models below. A test runs schemathesis against the live
service with this document, which keeps it true.
"""

from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from submarine_spawner.contract import EnvironmentSpec

from .. import specs, statuses
from .notebooks import MAX_OFFSET

REF = "#/components/schemas/{model}"


class NotebookMetaResult(BaseModel):
    name: str
    namespace: str
    ownerId: str
    labels: dict[str, str] | None = None


class NotebookSpecResult(BaseModel):
    meta: NotebookMetaResult
    environment: EnvironmentSpec
    spec: dict[str, Any]


class Notebook(BaseModel):
    notebookId: str
    name: str
    uid: str
    url: str
    status: Literal[statuses.ALL]
    reason: str | None
    createdTime: str
    deletedTime: str | None
    spec: NotebookSpecResult
    pendingRestart: bool
    pendingRestartReason: str | None
    sharedBy: str | None


class Environment(BaseModel):
    environmentId: str
    environmentSpec: EnvironmentSpec


class Event(BaseModel):
    id: int
    time: str
    status: Literal[statuses.ALL]
    message: str | None


class Logs(BaseModel):
    notebookId: str
    lines: list[str]


class Share(BaseModel):
    user: str | None = None
    group: str | None = None
    created: str


class ListAttributes(BaseModel):
    total: int
    offset: int
    limit: int | None


def _envelope(result: dict, attributes: dict | None = None) -> dict:
    return {
        "type": "object",
        "required": ["status", "code", "success", "message", "result", "attributes"],
        "properties": {
            "status": {"type": "string"},
            "code": {"type": "integer"},
            "success": {"type": "boolean"},
            "message": {"type": ["string", "null"]},
            "result": result,
            "attributes": attributes or {"type": "object"},
        },
    }


def _ok(result: dict, attributes: dict | None = None, links: dict | None = None) -> dict:
    ok = {"description": "OK", "content": {"application/json": {"schema": _envelope(result, attributes)}}}
    if links:
        ok["links"] = links
    return {"200": ok, "default": {"$ref": "#/components/responses/Error"}}


def _ok_or_accepted(result: dict) -> dict:
    """A change the hub may be yet to answer: 202, carried out when it does."""
    responses = _ok(result)
    responses["202"] = {
        "description": "Accepted: the hub has not answered yet; the service carries it out",
        "content": {"application/json": {"schema": _envelope(result)}},
    }
    return responses


def _links(parameter: str, pointer: str, operations: list[str]) -> dict:
    """What a created object's id leads to (clients and schemathesis follow these)."""
    return {
        operation: {"operationId": operation, "parameters": {parameter: f"$response.body#{pointer}"}}
        for operation in operations
    }


def _ref(name: str) -> dict:
    return {"$ref": REF.format(model=name)}


def _body(name: str) -> dict:
    return {
        "required": True,
        "content": {"application/json": {"schema": _ref(name)}, "application/yaml": {"schema": _ref(name)}},
    }


NOTEBOOK_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "The notebook's id, e.g. notebook_1626160071451_0001",
}
ENVIRONMENT_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}


def document(server_url: str = "/") -> dict:
    _, schemas = models_json_schema(
        [
            (specs.NotebookRequest, "validation"),
            (specs.NotebookPatch, "validation"),
            (EnvironmentSpec, "validation"),
            (specs.EnvironmentPatch, "validation"),
            (specs.ShareRequest, "validation"),
            (Notebook, "serialization"),
            (Environment, "serialization"),
            (Event, "serialization"),
            (Logs, "serialization"),
            (Share, "serialization"),
            (ListAttributes, "serialization"),
        ],
        ref_template=REF,
    )
    notebook, environment = _ref("Notebook"), _ref("Environment")
    one_notebook = _ok(notebook)
    notebook_links = _links(
        "id",
        "/result/notebookId",
        [
            "getNotebook",
            "updateNotebook",
            "deleteNotebook",
            "stopNotebook",
            "startNotebook",
            "notebookEvents",
            "notebookLogs",
            "notebookShares",
        ],
    )
    environment_links = _links(
        "name", "/result/environmentSpec/name", ["getEnvironment", "updateEnvironment", "deleteEnvironment"]
    )
    paths = {
        "/api/v1/notebook": {
            "get": {
                "operationId": "listNotebooks",
                "summary": "List notebooks (the caller's own; an admin's: all or ?id=)",
                "parameters": [
                    {"name": "id", "in": "query", "schema": {"type": "string"}, "description": "owner"},
                    {"name": "status", "in": "query", "schema": {"type": "string", "enum": list(statuses.ALL)}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
                    {
                        "name": "offset",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
                    },
                ],
                "responses": _ok({"type": "array", "items": notebook}, _ref("ListAttributes")),
            },
            "post": {
                "operationId": "createNotebook",
                "summary": "Create a notebook instance",
                "requestBody": _body("NotebookRequest"),
                "responses": _ok(notebook, links=notebook_links),
            },
        },
        "/api/v1/notebook/ping": {
            "get": {"operationId": "ping", "summary": "Ping", "responses": _ok({"type": "string"})}
        },
        "/api/v1/notebook/{id}": {
            "parameters": [NOTEBOOK_ID],
            "get": {"operationId": "getNotebook", "summary": "Get the notebook instance", "responses": one_notebook},
            "patch": {
                "operationId": "updateNotebook",
                "summary": "Change a stopped notebook's environment, envVars or resources",
                "requestBody": _body("NotebookPatch"),
                "responses": one_notebook,
            },
            "delete": {
                "operationId": "deleteNotebook",
                "summary": "Delete the notebook instance",
                "responses": _ok_or_accepted(notebook),
            },
        },
        "/api/v1/notebook/{id}/stop": {
            "parameters": [NOTEBOOK_ID],
            "post": {
                "operationId": "stopNotebook",
                "summary": "Stop; the workspace stays",
                "responses": _ok_or_accepted(notebook),
            },
        },
        "/api/v1/notebook/{id}/start": {
            "parameters": [NOTEBOOK_ID],
            "post": {
                "operationId": "startNotebook",
                "summary": "Start a stopped notebook",
                "responses": _ok_or_accepted(notebook),
            },
        },
        "/api/v1/notebook/{id}/events": {
            "parameters": [NOTEBOOK_ID],
            "get": {
                "operationId": "notebookEvents",
                "summary": "The notebook's history (text/event-stream: live until the spawn ends)",
                "responses": _ok({"type": "array", "items": _ref("Event")}),
            },
        },
        "/api/v1/notebook/{id}/logs": {
            "parameters": [NOTEBOOK_ID],
            "get": {
                "operationId": "notebookLogs",
                "summary": "The single-user server's last lines",
                "parameters": [
                    {"name": "tail", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 10000}}
                ],
                "responses": _ok(_ref("Logs")),
            },
        },
        "/api/v1/notebook/{id}/shares": {
            "parameters": [NOTEBOOK_ID],
            "get": {
                "operationId": "notebookShares",
                "summary": "Who the notebook is shared with",
                "responses": _ok({"type": "array", "items": _ref("Share")}),
            },
            "post": {
                "operationId": "shareNotebook",
                "summary": "Share with a user or a group (owner or admin): they may open and read it",
                "requestBody": _body("ShareRequest"),
                "responses": _ok({"type": "array", "items": _ref("Share")}),
            },
        },
        "/api/v1/notebook/{id}/shares/{kind}/{name}": {
            "parameters": [
                NOTEBOOK_ID,
                {
                    "name": "kind",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "enum": ["user", "group"]},
                },
                {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
            ],
            "delete": {
                "operationId": "unshareNotebook",
                "summary": "Stop sharing with a user or a group",
                "responses": _ok({"type": "array", "items": _ref("Share")}),
            },
        },
        "/api/v1/environment": {
            "get": {
                "operationId": "listEnvironments",
                "summary": "List environments",
                "responses": _ok({"type": "array", "items": environment}),
            },
            "post": {
                "operationId": "createEnvironment",
                "summary": "Create an environment (admins)",
                "requestBody": _body("EnvironmentSpec"),
                "responses": _ok(environment, links=environment_links),
            },
        },
        "/api/v1/environment/{name}": {
            "parameters": [ENVIRONMENT_NAME],
            "get": {"operationId": "getEnvironment", "summary": "Get an environment", "responses": _ok(environment)},
            "patch": {
                "operationId": "updateEnvironment",
                "summary": "Change an environment (admins)",
                "requestBody": _body("EnvironmentPatch"),
                "responses": _ok(environment),
            },
            "delete": {
                "operationId": "deleteEnvironment",
                "summary": "Delete an environment (admins)",
                "responses": _ok(environment),
            },
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Submarine notebooks on JupyterHub",
            "version": "1",
            "description": "The Apache Submarine Notebook REST API on JupyterHub named servers. Every "
            "response is Submarine's envelope; errors have success false and a message "
            "naming the field and the rule.",
        },
        "servers": [{"url": server_url}],
        "security": [{"token": []}, {"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": schemas["$defs"],
            "securitySchemes": {
                "token": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "'token <JupyterHub API token>'",
                },
                "bearer": {"type": "http", "scheme": "bearer"},
            },
            "responses": {
                "Error": {
                    "description": "An error, in the envelope",
                    "content": {"application/json": {"schema": _envelope({"type": "null"})}},
                }
            },
        },
    }
