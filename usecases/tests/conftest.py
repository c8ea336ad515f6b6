import pytest

from usecases.tests.factories import UseCaseFactory


@pytest.fixture
def use_case_factory(db: None) -> type[UseCaseFactory]:
    return UseCaseFactory


@pytest.fixture
def staff(user_factory: object) -> object:
    return user_factory(is_staff=True)  # type: ignore[operator]
