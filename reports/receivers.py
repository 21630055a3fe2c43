"""How the reports hear that deals changed (connected in ``ReportsConfig.ready``)."""

from reports.tasks import queue_recompute, queue_recompute_everywhere


def on_deals_changed(sender, deal_ids, territory_ids=(), **kwargs) -> None:
    """``territory_ids``, when sent, names territories the deals left (an account moved)."""
    queue_recompute(list(deal_ids), list(territory_ids))


def on_rates_changed(sender, **kwargs) -> None:
    """Exchange rates changed: every scope's converted figures may have moved."""
    queue_recompute_everywhere()
