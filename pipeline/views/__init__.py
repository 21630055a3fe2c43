"""Browser pages of the pipeline: the board, deals and accounts."""

from pipeline.views.accounts import (
    account_activity,
    account_detail,
    account_edit,
    account_list,
    account_new,
    account_options,
)
from pipeline.views.board import board, board_column, deal_move_view
from pipeline.views.contacts import (
    contact_deal_link,
    contact_delete_view,
    contact_detail,
    contact_edit,
    contact_list,
    contact_new,
    deal_contact_add,
    deal_contact_remove,
)
from pipeline.views.deals import (
    deal_activity,
    deal_detail,
    deal_edit,
    deal_export,
    deal_list,
    deal_new,
    deal_splits_edit,
)
from pipeline.views.imports import (
    import_check,
    import_detail,
    import_list,
    import_progress,
    import_rejected,
    import_run,
)
from pipeline.views.recycle import (
    account_delete_view,
    account_restore_view,
    deal_delete_view,
    deal_restore_view,
    recycle_bin,
)

__all__ = [
    "account_activity",
    "account_delete_view",
    "account_detail",
    "account_edit",
    "account_list",
    "account_new",
    "account_options",
    "account_restore_view",
    "board",
    "board_column",
    "contact_deal_link",
    "contact_delete_view",
    "contact_detail",
    "contact_edit",
    "contact_list",
    "contact_new",
    "deal_activity",
    "deal_contact_add",
    "deal_contact_remove",
    "deal_delete_view",
    "deal_detail",
    "deal_edit",
    "deal_export",
    "deal_list",
    "deal_move_view",
    "deal_new",
    "deal_splits_edit",
    "deal_restore_view",
    "import_check",
    "import_detail",
    "import_list",
    "import_progress",
    "import_rejected",
    "import_run",
    "recycle_bin",
]
