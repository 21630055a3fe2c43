"""Writing the demo organisation's one-on-ones, with their past times."""

from django.db import transaction
from django.utils import timezone

from coaching.demo import SeriesPlan
from coaching.models import (
    ActionItem,
    ActionItemStatus,
    OneOnOne,
    OneOnOneSeries,
    PrivateNote,
    TalkingPoint,
)


def demo_one_on_ones_create(*, plans: list[SeriesPlan]) -> int:
    """Store planned series with every meeting, note, talking point and action item as of their own times; returns how many meetings.

    Only ``seed_coaching`` calls it, on a database whose people came from
    ``seed_demo``: the plans were drawn within the rules the services enforce.
    """
    with transaction.atomic():
        series = OneOnOneSeries.objects.bulk_create(
            OneOnOneSeries(
                manager_id=plan.manager_id,
                rep_id=plan.rep_id,
                cadence=plan.cadence,
                weekday=plan.weekday,
                time=plan.time,
                starts_on=plan.starts_on,
                created_at=plan.meetings[0].scheduled_at if plan.meetings else timezone.now(),
            )
            for plan in plans
        )
        pairs = [(s, m) for s, plan in zip(series, plans, strict=True) for m in plan.meetings]
        meetings = OneOnOne.objects.bulk_create(
            OneOnOne(
                series=s,
                scheduled_at=m.scheduled_at,
                status=m.status,
                shared_notes=m.shared_notes,
                created_at=s.created_at,
                updated_at=m.scheduled_at,
            )
            for s, m in pairs
        )
        plans_by_row = [m for _, m in pairs]
        PrivateNote.objects.bulk_create(
            PrivateNote(
                meeting=row,
                text=plan.private_notes,
                updated_by_id=row.series.manager_id,
                updated_at=plan.scheduled_at,
            )
            for row, plan in zip(meetings, plans_by_row, strict=True)
            if plan.private_notes
        )
        TalkingPoint.objects.bulk_create(
            TalkingPoint(meeting=row, author_id=author, text=text, created_at=at)
            for row, plan in zip(meetings, plans_by_row, strict=True)
            for author, text, at in plan.points
        )
        ActionItem.objects.bulk_create(
            ActionItem(
                meeting=row,
                owner_id=item.owner_id,
                text=item.text,
                due_on=item.due_on,
                status=ActionItemStatus.DONE if item.completed_at else ActionItemStatus.OPEN,
                created_by_id=row.series.manager_id,
                created_at=plan.scheduled_at,
                completed_at=item.completed_at,
                completed_by_id=item.owner_id if item.completed_at else None,
            )
            for row, plan in zip(meetings, plans_by_row, strict=True)
            for item in plan.items
        )
    return len(meetings)
