"""The error responses of the OpenAPI schema, documented in one place from what each operation
takes (authentication, path ids, a body, a query, files) rather than by hand per operation.

Every error is {"detail", "code"} (an AppError may add fields, e.g. `missing_fields`); a 422 from
validation adds "errors": [{"field", "message", "location"}].
"""

from typing import Any

from ninja import NinjaAPI, Schema
from ninja.openapi.schema import OpenAPISchema

from p2p_sandbox.schemas import ErrorOut

WRITE_METHODS = {"post", "put", "patch", "delete"}
# A GET with one of these query parameters searches: it is rate-limited like a write.
SEARCH_PARAMETERS = {"q", "search"}
# The sign-in operations answer 401 for wrong credentials and 403 for an unverified address.
AUTH_TAG = "auth"
REF_TEMPLATE = "#/components/schemas/{model}"


class FieldErrorOut(Schema):
    field: str | None
    message: str
    location: str | None = None


class ValidationErrorOut(ErrorOut):
    errors: list[FieldErrorOut] = []


ERROR_DESCRIPTIONS = {
    400: "The request could not be read (malformed JSON), or the app refused it.",
    401: "Not signed in: no valid session or `Authorization: Bearer` token.",
    403: "Signed in but not allowed (role, organization, unverified email, or a missing CSRF "
    "token with the session).",
    404: "What the path (or the body) names does not exist or is not visible to the caller.",
    409: "Conflicts with the current state (already exists, locked, wrong status).",
    413: "The request body is too large.",
    422: "The input is not valid: `errors` lists each field when the schema refused it.",
    429: "Too many requests: wait `Retry-After` seconds.",
}


def error_statuses(method: str, operation: dict[str, Any]) -> set[int]:
    parameters = operation.get("parameters", [])
    locations = {parameter["in"] for parameter in parameters}
    query_names = {parameter["name"] for parameter in parameters if parameter["in"] == "query"}
    is_write = method in WRITE_METHODS
    statuses: set[int] = set()
    if operation.get("security") or AUTH_TAG in operation.get("tags", []):
        statuses |= {401, 403}
    if "path" in locations:
        statuses |= {400, 404, 422}
    if "query" in locations:
        statuses.add(422)
    if "requestBody" in operation:
        statuses |= {400, 413, 422}
    if is_write:
        statuses |= {400, 404, 409, 422}
    if is_write or query_names & SEARCH_PARAMETERS:
        statuses.add(429)
    return statuses


def error_response(status: int) -> dict[str, Any]:
    model = ValidationErrorOut if status == 422 else ErrorOut
    return {
        "description": ERROR_DESCRIPTIONS[status],
        "content": {
            "application/json": {"schema": {"$ref": REF_TEMPLATE.format(model=model.__name__)}}
        },
    }


def add_error_responses(schema: OpenAPISchema) -> OpenAPISchema:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (ErrorOut, ValidationErrorOut):
        model_schema = model.model_json_schema(ref_template=REF_TEMPLATE)
        components.update(model_schema.pop("$defs", {}))
        components[model.__name__] = model_schema
    for path_item in schema["paths"].values():
        for method, operation in path_item.items():
            responses = operation.setdefault("responses", {})
            for status in sorted(error_statuses(method, operation)):
                if status not in responses and str(status) not in responses:
                    responses[status] = error_response(status)
    return schema


class DocumentedErrorsAPI(NinjaAPI):
    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> OpenAPISchema:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        return add_error_responses(schema)
