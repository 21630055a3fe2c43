"""The weekly digest pages: its settings and a preview of the next one."""

from django.urls import path

from coaching import views_digests

urlpatterns = [
    path("coaching/digest/", views_digests.preview, name="digest-preview"),
    path("coaching/digest/email.html", views_digests.preview_html, name="digest-preview-html"),
    path("coaching/digest/email.txt", views_digests.preview_text, name="digest-preview-text"),
    path("coaching/digest/settings/", views_digests.digest_settings, name="digest-settings"),
]
