"""How the reports hear that deals changed (connected in ``ReportsConfig.ready``)."""

from reports.tasks import queue_recompute


def on_deals_changed(sender, deal_ids, **kwargs) -> None:
    queue_recompute(list(deal_ids))
