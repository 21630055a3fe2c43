"""Split credit: which reps share a deal's credit, and by how much."""

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction

from pipeline.models import Deal, DealSplit
from salesmgr.errors import PermissionDenied
from salesmgr.models import User
from salesmgr.selectors import may_act_for

HUNDRED = Decimal("100")


@dataclass(frozen=True)
class SplitSpec:
    rep: User
    share: Decimal


def deal_split_errors(splits: list[SplitSpec]) -> dict[str, list[str]]:
    """What is wrong with a deal's splits: none (the owner takes all) or shares summing to 100."""
    errors: list[str] = []
    seen: set[int] = set()
    total = Decimal(0)
    for spec in splits:
        try:
            share = Decimal(spec.share)
        except (InvalidOperation, TypeError):
            errors.append("Each share is a number of percent.")
            continue
        if (
            not share.is_finite()
            or share <= 0
            or share > HUNDRED
            or share != share.quantize(Decimal("0.01"))
        ):
            errors.append(
                "Each share is more than 0 and at most 100 percent, with at most two decimals."
            )
        if spec.rep.pk in seen:
            errors.append(f"{spec.rep.display_name} appears twice; give each rep one share.")
        if not spec.rep.is_active:
            errors.append(f"{spec.rep.display_name} is inactive and cannot take credit.")
        seen.add(spec.rep.pk)
        total += share if share.is_finite() else 0
    if splits and not errors and total != HUNDRED:
        errors.append(f"The shares add up to {total.normalize():f}%; they must add up to 100%.")
    return {"splits": errors} if errors else {}


def deal_splits_set(*, deal: Deal, splits: list[SplitSpec], by: User) -> list[DealSplit]:
    """Replace a deal's splits (an empty list: the owner takes all the credit again).

    Credit is pay: only the owner's manager (their team's reps) or an admin splits it, never a rep.
    """
    if by.is_rep or not may_act_for(actor=by, owner_id=deal.owner_id):
        raise PermissionDenied("You cannot split credit on this deal.")
    errors = deal_split_errors(splits)
    if errors:
        raise ValidationError(errors)
    for spec in splits:
        if spec.rep.pk != deal.owner_id and not may_act_for(actor=by, owner_id=spec.rep.pk):
            raise ValidationError(
                {"splits": [f"You cannot give credit to {spec.rep.display_name}."]}
            )
    with transaction.atomic():
        Deal.objects.select_for_update().filter(pk=deal.pk).first()
        DealSplit.objects.filter(deal=deal).delete()
        rows = DealSplit.objects.bulk_create(
            DealSplit(deal=deal, rep=spec.rep, share=Decimal(spec.share)) for spec in splits
        )
    return rows
