import typing
from collections import defaultdict
from typing import Any

from django.test import Client
from pydantic import BaseModel

from p2p_sandbox.api import api


def reachable_models(annotation: Any, found: dict[str, set[type]]) -> None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in found[annotation.__name__]:
            return
        found[annotation.__name__].add(annotation)
        for field in annotation.model_fields.values():
            reachable_models(field.annotation, found)
        return
    for argument in typing.get_args(annotation):
        reachable_models(argument, found)


def operations() -> list[Any]:
    return [
        operation
        for _, router in api._routers
        for path_operation in router.path_operations.values()
        for operation in path_operation.operations
    ]


def openapi() -> dict[str, Any]:
    return Client().get("/api/v1/openapi.json").json()


def test_openapi_no_two_schemas_share_a_name() -> None:
    found: dict[str, set[type]] = defaultdict(set)
    for operation in operations():
        for model in operation.response_models.values():
            reachable_models(model, found)
        for model in operation.models:
            reachable_models(model, found)

    # ninja builds its parameter containers and Paged* outputs per operation, from one shape.
    shared = {
        name: classes
        for name, classes in found.items()
        if len(classes) > 1 and any(cls.__module__ != "abc" for cls in classes)
    }
    assert shared == {}


def test_openapi_bookmark_operations_document_their_own_schemas() -> None:
    schema = openapi()
    components = schema["components"]["schemas"]

    def response_properties(path: str) -> set[str]:
        ref = schema["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]
        return set(components[ref["schema"]["$ref"].rsplit("/", 1)[1]]["properties"])

    assert response_properties("/api/v1/forums/topics/{topic_id}/bookmark") == {"bookmarked"}
    assert response_properties("/api/v1/use-cases/{use_case_id}/bookmark") == {
        "bookmarked",
        "bookmark_count",
    }


def test_openapi_documents_the_error_responses_of_each_operation() -> None:
    paths = openapi()["paths"]

    def statuses(path: str, method: str) -> list[str]:
        return sorted(paths[path][method]["responses"])

    assert statuses("/api/v1/forums/topics", "post") == [
        "201", "400", "401", "403", "404", "409", "413", "422", "429",
    ]  # fmt: skip
    assert statuses("/api/v1/forums/topics/{topic_id}", "get") == [
        "200", "400", "401", "403", "404", "422",
    ]  # fmt: skip
    assert statuses("/api/v1/messages/search", "get") == ["200", "401", "403", "422", "429"]
    assert statuses("/api/v1/messages/unread", "get") == ["200", "401", "403"]
    assert "413" in statuses("/api/v1/use-cases/{use_case_id}/media", "post")
    error = paths["/api/v1/forums/topics"]["post"]["responses"]["409"]
    assert error["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorOut"
    }


def test_openapi_error_schemas_hold_detail_and_code() -> None:
    components = openapi()["components"]["schemas"]

    assert components["ErrorOut"]["required"] == ["detail", "code"]
    assert components["ValidationErrorOut"]["required"] == ["detail", "code"]
    assert set(components["ValidationErrorOut"]["properties"]) == {"detail", "code", "errors"}


def test_openapi_documents_the_input_limits_the_services_enforce() -> None:
    schemas = openapi()["components"]["schemas"]

    topic = schemas["TopicIn"]["properties"]
    assert (topic["title"]["minLength"], topic["title"]["maxLength"]) == (8, 150)
    assert topic["content"]["maxLength"] == 5000
    assert (topic["tags"]["maxItems"], topic["tags"]["items"]["maxLength"]) == (5, 30)
    post = schemas["PostIn"]["properties"]["content"]
    assert (post["minLength"], post["maxLength"]) == (1, 5000)
    assert schemas["TopicPatch"]["properties"]["title"]["maxLength"] == 150
