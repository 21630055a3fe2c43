from django.urls import path

from salesmgr.audit import views

urlpatterns = [
    path("audit-log/", views.audit_log, name="audit-log"),
]
