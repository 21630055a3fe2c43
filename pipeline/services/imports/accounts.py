"""Importing accounts with their contacts."""

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from pipeline.checks.accounts import account_owner_errors
from pipeline.models import Account, Contact
from pipeline.services.imports.parsing import AccountSpec, ErrorCollector
from pipeline.services.imports.planning import check_owners
from pipeline.services.imports.writing import insert_rows
from quotas.models import Territory
from salesmgr.models import User


def accounts_import(*, specs: list[AccountSpec], by: User, batch_size: int = 2000) -> list[int]:
    """Create accounts and their contacts; returns the account ids in row order.

    The same checks as ``account_create`` (the model's field rules, an owner
    ``by`` may act for who can sign in), made for a whole batch in a few queries.
    """
    if not specs:
        return []
    check_owners(by, {spec.owner_id for spec in specs})
    now = timezone.now()
    owners = dict(
        User.objects.filter(pk__in={s.owner_id for s in specs}).values_list("pk", "is_active")
    )
    territories = set(
        Territory.objects.filter(
            pk__in={s.territory_id for s in specs if s.territory_id}
        ).values_list("pk", flat=True)
    )
    errors = ErrorCollector()
    accounts, contacts = [], []
    for row, spec in enumerate(specs):
        if spec.owner_id not in owners:
            errors.add(row, "owner", f"No user {spec.owner_id!r}.")
        else:
            errors.extend(row, account_owner_errors(owner_active=owners[spec.owner_id]))
        if spec.territory_id is not None and spec.territory_id not in territories:
            errors.add(row, "territory", f"No territory {spec.territory_id!r}.")
        created_at = spec.created_at or now
        account = Account(
            name=(spec.name or "").strip(),
            owner_id=spec.owner_id,
            territory_id=spec.territory_id,
            industry=spec.industry,
            region=spec.region,
            employee_count=spec.employee_count,
            website=spec.website,
            created_at=created_at,
        )
        _model_errors(errors, row, "", account, exclude=["owner", "territory"])
        accounts.append(account)
        for index, contact_spec in enumerate(spec.contacts):
            contact = Contact(
                first_name=contact_spec.first_name,
                last_name=contact_spec.last_name,
                title=contact_spec.title,
                email=contact_spec.email,
                phone=contact_spec.phone,
                created_at=created_at,
            )
            _model_errors(errors, row, f"contacts[{index}].", contact, exclude=["account"])
            contacts.append((row, contact))
    errors.raise_if_any()

    account_columns = [f.attname for f in Account._meta.concrete_fields if not f.primary_key]
    contact_columns = [
        f.attname
        for f in Contact._meta.concrete_fields
        if not f.primary_key and f.attname != "account_id"
    ]
    with transaction.atomic():
        ids = insert_rows(
            Account,
            account_columns,
            [[getattr(a, c) for c in account_columns] for a in accounts],
            batch_size,
            return_ids=True,
        )
        insert_rows(
            Contact,
            ["account_id", *contact_columns],
            [(ids[row], *(getattr(c, name) for name in contact_columns)) for row, c in contacts],
            batch_size,
        )
    return ids


def _model_errors(
    errors: ErrorCollector, row: int, prefix: str, instance: models.Model, exclude: list[str]
) -> None:
    try:
        instance.clean_fields(exclude=exclude)
    except ValidationError as exc:
        for field_name, messages in exc.message_dict.items():
            for message in messages:
                errors.add(row, f"{prefix}{field_name}", message)
