"""Every write that matters to the pipeline goes through these functions."""

from pipeline.services.accounts import (
    account_create,
    account_delete,
    account_restore,
    account_update,
)
from pipeline.services.activities import activity_log
from pipeline.services.contacts import (
    contact_create,
    contact_delete,
    contact_update,
    deal_contact_link,
    deal_contact_unlink,
)
from pipeline.services.deals import (
    LineItemSpec,
    deal_create,
    deal_delete,
    deal_move,
    deal_reassign,
    deal_restore,
    deal_update,
    deals_purge_deleted,
    line_items_set,
)
from pipeline.services.imports import (
    AccountSpec,
    ActivitySpec,
    ChangeSpec,
    ContactSpec,
    DealSpec,
    RowErrors,
    TransitionSpec,
    accounts_import,
    activities_import,
    deals_import,
)
from pipeline.services.pipelines import pipeline_check_ready, stage_create

__all__ = [
    "AccountSpec",
    "ActivitySpec",
    "ChangeSpec",
    "ContactSpec",
    "DealSpec",
    "LineItemSpec",
    "RowErrors",
    "TransitionSpec",
    "account_create",
    "account_delete",
    "account_restore",
    "account_update",
    "accounts_import",
    "activities_import",
    "activity_log",
    "contact_create",
    "contact_delete",
    "contact_update",
    "deal_contact_link",
    "deal_contact_unlink",
    "deal_create",
    "deal_delete",
    "deal_move",
    "deal_reassign",
    "deal_restore",
    "deal_update",
    "deals_import",
    "deals_purge_deleted",
    "line_items_set",
    "pipeline_check_ready",
    "stage_create",
]
