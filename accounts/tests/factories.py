import factory
from django.utils import timezone

from accounts.models import Organization, User

PASSWORD = "correct-horse-battery"


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization
        django_get_or_create = ["slug"]

    name = factory.Sequence(lambda n: f"Factory {n}")
    slug = factory.Sequence(lambda n: f"factory-{n}")
    email_domain = factory.Sequence(lambda n: f"factory{n}.example")
    city = "Jubail"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    organization = factory.SubFactory(OrganizationFactory)
    email = factory.LazyAttributeSequence(lambda o, n: f"person{n}@{o.organization.email_domain}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    role = User.Role.MEMBER
    email_verified_at = factory.LazyFunction(timezone.now)
    password = factory.django.Password(PASSWORD)

    class Params:
        admin = factory.Trait(role=User.Role.ADMIN)
        unverified = factory.Trait(email_verified_at=None)
