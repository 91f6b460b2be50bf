"""factory_boy factories for the Django models."""

from __future__ import annotations

import factory

from analytics.accounts.keys import new_write_key
from analytics.accounts.models import Membership, Organisation, Project, Role, User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery-staple")

    @factory.post_generation
    def _save(self, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            self.save()


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation

    name = factory.Sequence(lambda n: f"Organisation {n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organisation = factory.SubFactory(OrganisationFactory)
    role = Role.OWNER


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    organisation = factory.SubFactory(OrganisationFactory)
    name = factory.Sequence(lambda n: f"Project {n}")
    timezone = "UTC"
    write_key = factory.LazyFunction(new_write_key)


def member_with_project(role: str = Role.OWNER, **project_fields: object) -> tuple[User, Project]:
    """A user who is ``role`` in an organisation that has one project."""
    membership = MembershipFactory(role=role)
    project = ProjectFactory(organisation=membership.organisation, **project_fields)
    return membership.user, project
