"""Browser pages of the pipeline: the board, deals and accounts."""

from pipeline.views.accounts import account_activity, account_detail, account_list, account_options
from pipeline.views.board import board, board_column, deal_move_view
from pipeline.views.deals import (
    deal_activity,
    deal_detail,
    deal_edit,
    deal_export,
    deal_list,
    deal_new,
)

__all__ = [
    "account_activity",
    "account_detail",
    "account_list",
    "account_options",
    "board",
    "board_column",
    "deal_activity",
    "deal_detail",
    "deal_edit",
    "deal_export",
    "deal_list",
    "deal_move_view",
    "deal_new",
]
