"""The admin for pipelines, accounts, deals and what happens to them, one module per entity.

Pipelines, stages, products, lost reasons, accounts, contacts, deals, line
items and activities are written through ``pipeline.services``; a deal changes
stage only through the "Move to stage" page, and deleting a deal or an account
here hides it (soft delete).
"""

from pipeline.admin import (
    accounts,
    activities,
    contacts,
    deal_history,
    deals,
    line_items,
    lost_reasons,
    pipelines,
    products,
    rates,
)
from pipeline.webhooks import admin as webhooks

__all__ = [
    "accounts",
    "activities",
    "contacts",
    "deal_history",
    "deals",
    "line_items",
    "lost_reasons",
    "pipelines",
    "products",
    "rates",
    "webhooks",
]
