"""Writing many records at once: deals with their past, accounts, activities.

Used by the demo-data command, the bulk API and CSV imports. Every row of a
call is checked before anything is written, and a call is written in one
transaction: all of it or none of it. On PostgreSQL the rows go in with COPY,
elsewhere with ``bulk_create``. Callers with many rows feed them in batches
(a few thousand per call) so memory stays bounded.

``parsing`` reads loose values and holds the row specs, ``planning`` checks
deal rows and works out their past, ``writing`` puts rows in the database.
"""

from pipeline.services.imports.accounts import accounts_import
from pipeline.services.imports.activities import activities_import
from pipeline.services.imports.deals import deals_import
from pipeline.services.imports.parsing import (
    CHANGEABLE_FIELDS,
    AccountSpec,
    ActivitySpec,
    ChangeSpec,
    ContactSpec,
    DealSpec,
    RowErrors,
    TransitionSpec,
)
from pipeline.services.imports.planning import allowed_owner_ids

__all__ = [
    "CHANGEABLE_FIELDS",
    "AccountSpec",
    "ActivitySpec",
    "ChangeSpec",
    "ContactSpec",
    "DealSpec",
    "RowErrors",
    "TransitionSpec",
    "accounts_import",
    "activities_import",
    "allowed_owner_ids",
    "deals_import",
]
