"""Importing accounts with their contacts."""

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from pipeline.assignment import AccountFacts, rules_saved, territory_for
from pipeline.checks.accounts import (
    account_external_id_errors,
    account_owner_errors,
    account_values_errors,
)
from pipeline.models import Account, Contact
from pipeline.selectors import account_external_ids_taken
from pipeline.services.imports.deals import PAST_ADMINS_ONLY, PAST_TOLERANCE
from pipeline.services.imports.parsing import AccountSpec, ErrorCollector
from pipeline.services.imports.planning import check_owners
from pipeline.services.imports.writing import insert_rows
from quotas.models import Territory
from salesmgr.models import User


def accounts_import(
    *, specs: list[AccountSpec], by: User, batch_size: int = 2000, dry_run: bool = False
) -> list[int]:
    """Create accounts and their contacts; returns the account ids in row order.

    The same checks as ``account_create`` (the model's field rules, an owner
    ``by`` may act for who can sign in), made for a whole batch in a few queries;
    a bad row raises ``RowErrors`` and nothing is written. Only admins may give
    a creation date in the past. With ``dry_run`` nothing is written (answer: []).
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
    # Unique per owner, and the owners are ones ``by`` may act for: nothing outside their scope answers.
    taken_external_ids = account_external_ids_taken(
        {(s.owner_id, s.external_id) for s in specs if s.external_id}
    )
    seen_external_ids: set[tuple] = set()
    rules = None
    errors = ErrorCollector()
    accounts, contacts = [], []
    for row, spec in enumerate(specs):
        if spec.owner_id not in owners:
            errors.add(row, "owner", f"No user {spec.owner_id!r}.")
        else:
            errors.extend(row, account_owner_errors(owner_active=owners[spec.owner_id]))
        errors.extend(
            row,
            account_values_errors(
                values={"country": spec.country, "annual_revenue": spec.annual_revenue}
            ),
        )
        if spec.territory_id is not None and spec.territory_id not in territories:
            errors.add(row, "territory", f"No territory {spec.territory_id!r}.")
        created_at = spec.created_at or now
        if not by.is_admin and created_at < now - PAST_TOLERANCE:
            errors.add(row, "created_at", PAST_ADMINS_ONLY)
        external_id = spec.external_id or None
        if external_id is not None:
            key = (spec.owner_id, external_id)
            if key in seen_external_ids:
                errors.add(
                    row, "external_id", f"external_id {external_id!r} is given by an earlier row."
                )
            else:
                errors.extend(row, account_external_id_errors(taken=key in taken_external_ids))
            seen_external_ids.add(key)
        account = Account(
            name=(spec.name or "").strip(),
            owner_id=spec.owner_id,
            territory_id=spec.territory_id,
            industry=spec.industry,
            region=spec.region,
            employee_count=spec.employee_count,
            website=spec.website,
            country=spec.country,
            postcode=spec.postcode,
            annual_revenue=spec.annual_revenue,
            created_at=created_at,
            external_id=external_id,
        )
        if spec.place and spec.territory_id is None:
            rules = rules_saved() if rules is None else rules
            rule = territory_for(rules, AccountFacts.of(account))
            if rule is not None:
                account.territory_id = rule.territory_id
        _model_errors(errors, row, "", account, exclude=["owner", "territory", "external_id"])
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
    if dry_run:
        return []

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
