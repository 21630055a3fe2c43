"""Browser pages of the pipeline: board, deals, accounts."""

from django.urls import path

from pipeline import views

urlpatterns = [
    path("board/", views.board, name="board"),
    path("board/columns/<int:stage_id>/", views.board_column, name="board-column"),
    path("deals/", views.deal_list, name="deal-list"),
    path("deals/export.csv", views.deal_export, name="deal-export"),
    path("deals/new/", views.deal_new, name="deal-new"),
    path("deals/<int:pk>/", views.deal_detail, name="deal-detail"),
    path("deals/<int:pk>/edit/", views.deal_edit, name="deal-edit"),
    path("deals/<int:pk>/move/", views.deal_move_view, name="deal-move"),
    path("deals/<int:pk>/activities/", views.deal_activity, name="deal-activity"),
    path("accounts/", views.account_list, name="account-list"),
    path("accounts/options/", views.account_options, name="account-options"),
    path("accounts/<int:pk>/", views.account_detail, name="account-detail"),
    path("accounts/<int:pk>/activities/", views.account_activity, name="account-activity"),
]
