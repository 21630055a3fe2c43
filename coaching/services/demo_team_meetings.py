"""Writing the demo organisation's team meetings, with their past times."""

import datetime

from django.db import transaction

from coaching.models import ActionItem, ActionItemStatus, TeamMeeting


def demo_team_meetings_create(*, plans: list) -> tuple[int, int]:
    """Store planned team meetings with their minutes and action items as of their own times; returns (meetings, items).

    Only ``seed_coaching`` calls it (through ``coaching.demo_team_meetings``), on
    a database whose people came from ``seed_demo``: the plans were drawn within
    the rules the services enforce.
    """
    with transaction.atomic():
        meetings = TeamMeeting.objects.bulk_create(
            TeamMeeting(
                manager_id=plan.manager_id,
                scheduled_at=plan.scheduled_at,
                status=plan.status,
                minutes=plan.minutes,
                created_by_id=plan.manager_id,
                created_at=plan.scheduled_at - datetime.timedelta(days=7),
                updated_at=plan.scheduled_at,
            )
            for plan in plans
        )
        items = ActionItem.objects.bulk_create(
            ActionItem(
                team_meeting=row,
                owner_id=item.owner_id,
                text=item.text,
                due_on=item.due_on,
                status=ActionItemStatus.DONE if item.completed_at else ActionItemStatus.OPEN,
                created_by_id=plan.manager_id,
                created_at=plan.scheduled_at,
                completed_at=item.completed_at,
                completed_by_id=item.owner_id if item.completed_at else None,
            )
            for row, plan in zip(meetings, plans, strict=True)
            for item in plan.items
        )
    return len(meetings), len(items)
