from ninja import Schema
from pydantic import ConfigDict
from pydantic.alias_generators import to_camel


class InputSchema(Schema):
    """Base for request bodies: every field in snake_case or camelCase; unknown fields are 422."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        str_strip_whitespace=True,
        extra="forbid",
    )


class ErrorOut(Schema):
    detail: str
    code: str
