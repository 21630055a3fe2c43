"""Browser pages of the pipeline: board, deals, accounts."""

from django.urls import path

from pipeline import views

urlpatterns = [
    path("board/", views.board, name="board"),
    path("deals/", views.deal_list, name="deal-list"),
    path("deals/<int:pk>/", views.deal_detail, name="deal-detail"),
    path("accounts/", views.account_list, name="account-list"),
    path("accounts/<int:pk>/", views.account_detail, name="account-detail"),
]
