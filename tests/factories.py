"""factory_boy factories. Rows that have a write service are made through it."""

import datetime
from decimal import Decimal

import factory
from django.utils import timezone

from pipeline.models import Account, Deal, LostReason, Pipeline, Product
from pipeline.services import account_create, deal_create, stage_create
from salesmgr.models import Role, User
from salesmgr.services import user_create

PASSWORD = "s3cret-pass"


class UserFactory(factory.Factory):
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"user{n}")
    full_name = factory.Faker("name")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    role = Role.REP
    manager = None

    @classmethod
    def _create(cls, model_class, **kwargs):
        return user_create(password=PASSWORD, **kwargs)


class PipelineFactory(factory.django.DjangoModelFactory):
    """A pipeline with four open stages and its won and lost stages."""

    class Meta:
        model = Pipeline
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Pipeline {n}")

    @factory.post_generation
    def stages(pipeline, create, extracted, **kwargs):
        if not create or extracted is False:
            return
        for order, (name, probability, kind, rot_days) in enumerate(
            [
                ("Qualification", 10, "open", 14),
                ("Discovery", 30, "open", 21),
                ("Proposal", 60, "open", 21),
                ("Negotiation", 80, "open", 14),
                ("Won", 100, "won", None),
                ("Lost", 0, "lost", None),
            ],
            start=1,
        ):
            stage_create(
                pipeline=pipeline,
                name=name,
                order=order,
                probability=probability,
                kind=kind,
                rot_days=rot_days,
            )


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    name = factory.Sequence(lambda n: f"Product {n}")
    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    unit_price = Decimal("100.00")


class LostReasonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LostReason
        django_get_or_create = ("name",)

    name = "Price"


class AccountFactory(factory.Factory):
    class Meta:
        model = Account

    name = factory.Sequence(lambda n: f"Account {n}")
    owner = factory.SubFactory(UserFactory)
    territory = None

    @classmethod
    def _create(cls, model_class, *, owner, **kwargs):
        return account_create(by=owner, owner=owner, **kwargs)


class DealFactory(factory.Factory):
    class Meta:
        model = Deal

    name = factory.Sequence(lambda n: f"Deal {n}")
    owner = factory.SubFactory(UserFactory)
    account = factory.LazyAttribute(lambda o: AccountFactory(owner=o.owner))
    pipeline = factory.SubFactory(PipelineFactory)
    amount = Decimal("1000.00")
    expected_close_date = factory.LazyFunction(
        lambda: timezone.localdate() + datetime.timedelta(days=30)
    )

    @classmethod
    def _create(cls, model_class, *, owner, **kwargs):
        return deal_create(by=owner, owner=owner, **kwargs)
