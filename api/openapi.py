"""The published OpenAPI document, completed with the answers every operation can give.

FastAPI documents its own 422 (a list of validation errors) but not ours (`{"detail": "..."}` for a value that
breaks a rule beyond the schema, like a window longer than 31 days), nor the 413 and 429 of the abuse limits,
which answer before any route, nor the 503 of an API over capacity. Clients and the schema-driven fuzz test read
this document, so it says all of it.
"""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.errors import ErrorOut
from api.overload import exempt

ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}
VALIDATION_REF = {"$ref": "#/components/schemas/HTTPValidationError"}
# FastAPI's own answer to a body that is not JSON (or not UTF-8), before any validation.
BODY_ANSWERS: dict[str, dict[str, Any]] = {"400": {"description": "The body is not JSON"}}
LIMIT_ANSWERS: dict[str, dict[str, Any]] = {
    "413": {"description": "Request body larger than FLEET_API_MAX_BODY_BYTES"},
    "429": {
        "description": "Rate limit of the token, or too many failed authentications from this address",
        "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
    },
}
# Every operation the admission limit counts, and every one that reads the database, may answer it.
OVERLOAD_ANSWER: dict[str, Any] = {
    "description": "Over capacity (too many requests in flight, no database connection free in time, a query "
    "past the statement timeout) or the database unavailable: retry after Retry-After",
    "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
}


def complete_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` document our 422 shape and the limits' answers on every operation."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas.setdefault("ErrorOut", ErrorOut.model_json_schema())
        for path, path_item in document.get("paths", {}).items():
            for operation in path_item.values():
                responses = operation.setdefault("responses", {})
                if "422" in responses:
                    responses["422"]["content"] = {
                        "application/json": {"schema": {"anyOf": [VALIDATION_REF, ERROR_REF]}}
                    }
                answers = {**LIMIT_ANSWERS, **(BODY_ANSWERS if "requestBody" in operation else {})}
                if not exempt(path):
                    answers["503"] = OVERLOAD_ANSWER
                for status, answer in answers.items():
                    responses.setdefault(status, {**answer, "content": {"application/json": {"schema": ERROR_REF}}})
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
