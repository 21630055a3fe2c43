"""Browser pages of the pipeline: board, deals, accounts, contacts and the recycle bin."""

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
    path("deals/<int:pk>/splits/", views.deal_splits_edit, name="deal-splits"),
    path("deals/<int:pk>/activities/", views.deal_activity, name="deal-activity"),
    path("deals/<int:pk>/delete/", views.deal_delete_view, name="deal-delete"),
    path("deals/<int:pk>/contacts/", views.deal_contact_add, name="deal-contact-add"),
    path(
        "deals/<int:pk>/contacts/<int:contact_pk>/remove/",
        views.deal_contact_remove,
        name="deal-contact-remove",
    ),
    path("accounts/", views.account_list, name="account-list"),
    path("accounts/new/", views.account_new, name="account-new"),
    path("accounts/options/", views.account_options, name="account-options"),
    path("accounts/<int:pk>/", views.account_detail, name="account-detail"),
    path("accounts/<int:pk>/activities/", views.account_activity, name="account-activity"),
    path("accounts/<int:pk>/edit/", views.account_edit, name="account-edit"),
    path("accounts/<int:pk>/delete/", views.account_delete_view, name="account-delete"),
    path("accounts/<int:account_pk>/contacts/new/", views.contact_new, name="contact-new"),
    path("contacts/", views.contact_list, name="contact-list"),
    path("contacts/<int:pk>/", views.contact_detail, name="contact-detail"),
    path("contacts/<int:pk>/edit/", views.contact_edit, name="contact-edit"),
    path("contacts/<int:pk>/delete/", views.contact_delete_view, name="contact-delete"),
    path("contacts/<int:pk>/deals/", views.contact_deal_link, name="contact-deal-link"),
    path("imports/", views.import_list, name="import-list"),
    path("imports/<int:pk>/", views.import_detail, name="import-detail"),
    path("imports/<int:pk>/check/", views.import_check, name="import-check"),
    path("imports/<int:pk>/run/", views.import_run, name="import-run"),
    path("imports/<int:pk>/progress/", views.import_progress, name="import-progress"),
    path("imports/<int:pk>/rejected.csv", views.import_rejected, name="import-rejected"),
    path("recycle-bin/", views.recycle_bin, name="recycle-bin"),
    path("recycle-bin/deals/<int:pk>/restore/", views.deal_restore_view, name="deal-restore"),
    path(
        "recycle-bin/accounts/<int:pk>/restore/",
        views.account_restore_view,
        name="account-restore",
    ),
]
