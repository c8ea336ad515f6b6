from ninja import Schema
from pydantic import ConfigDict
from pydantic.alias_generators import to_camel


class InputSchema(Schema):
    """Base for request bodies: every field is accepted in snake_case and in camelCase."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        str_strip_whitespace=True,
        extra="ignore",
    )


class ErrorOut(Schema):
    detail: str
    code: str
