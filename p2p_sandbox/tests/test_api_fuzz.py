"""Fuzzing of every API operation from the OpenAPI schema (Schemathesis): no answer is a 5xx,
and every answer is documented (its status, content type and body match the schema).

The app runs in process (Django's WSGI handler, in the test's transaction); the caller is a
verified organization admin with a personal API token.
"""

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from accounts import services as account_services
from accounts.models import User
from forums.tests.factories import TopicFactory
from p2p_sandbox.api import api

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Bounded so that the whole API is fuzzed in about two minutes on a small machine.
EXAMPLES_PER_OPERATION = 25

schema = schemathesis.openapi.from_dict(api.get_openapi_schema())
schema.app = WSGIHandler()

pytestmark = [pytest.mark.services, pytest.mark.django_db]


@pytest.fixture
def in_test_transaction() -> Iterator[None]:
    """The WSGI handler would close the test's connection after each request; Django's test
    client disconnects the same receivers."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def bearer(user_factory: Any, in_test_transaction: None) -> dict[str, str]:
    caller: User = user_factory(admin=True)
    TopicFactory(author=caller)
    _, raw = account_services.create_api_token(actor=caller, name="fuzz")
    return {"Authorization": f"Bearer {raw}"}


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_operation_answers_as_documented(case: Any, bearer: dict[str, str]) -> None:
    case.call_and_validate(headers=bearer, checks=CHECKS)
