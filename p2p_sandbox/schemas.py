from typing import Annotated, Any

from django.utils.translation import gettext_lazy as _
from ninja import Schema
from ninja.params.functions import Path
from pydantic import ConfigDict, field_validator
from pydantic.alias_generators import to_camel

# The largest id a bigint primary key holds.
MAX_ID = 2**63 - 1
# An id in a path: past MAX_ID it cannot name a row (and SQLite cannot even compare it), so it
# is a 422 before the database is asked.
ObjectId = Annotated[int, Path(ge=1, le=MAX_ID)]

NUL_MESSAGE = _("Must not contain NUL characters.")
UNENCODABLE_MESSAGE = _("Must be valid Unicode text (no lone surrogates).")


def unstorable_text_error(value: str) -> str | None:
    """Why PostgreSQL could not store `value` (a NUL, or a lone surrogate UTF-8 cannot encode),
    or None when it can."""
    if "\x00" in value:
        return str(NUL_MESSAGE)
    try:
        value.encode()
    except UnicodeEncodeError:
        return str(UNENCODABLE_MESSAGE)
    return None


def check_storable(value: Any) -> Any:
    """Refuses text that cannot be stored, in a string or in the strings of a list or dict."""
    if isinstance(value, str):
        error = unstorable_text_error(value)
        if error:
            raise ValueError(error)
    elif isinstance(value, list | tuple):
        for item in value:
            check_storable(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_storable(key)
            check_storable(item)
    return value


class InputSchema(Schema):
    """Base for request bodies: every field in snake_case or camelCase; unknown fields are 422;
    no text anywhere in the body may hold a NUL or a lone surrogate (422)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        str_strip_whitespace=True,
        extra="forbid",
    )

    @field_validator("*", mode="before")
    @classmethod
    def storable_text(cls, value: Any) -> Any:
        return check_storable(value)


class ErrorOut(Schema):
    detail: str
    code: str


class LikeOut(Schema):
    """A like toggled or set: the caller's like and the new count."""

    liked: bool
    like_count: int
