"""How coaching hears that deals changed (connected in ``CoachingConfig.ready``)."""

from coaching.tasks import record_milestones
from salesmgr.queue import task_publish

# Beyond this many changed deals (an import, a realignment) everyone's milestones are checked.
DEALS_NAMED_LIMIT = 500


def on_deals_changed(sender, deal_ids, **kwargs) -> None:
    """Queue a milestone check for the changed deals' owners; the periodic run catches a lost ring."""
    deal_ids = list(deal_ids)
    named = deal_ids if len(deal_ids) <= DEALS_NAMED_LIMIT else None
    task_publish(record_milestones, kwargs={"deal_ids": named}, ignore_result=True)
