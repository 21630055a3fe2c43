"""Every URL of Salesmgr: the one module that knows all the apps."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from salesmgr import views
from salesmgr.forms import SignInForm

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(
            redirect_authenticated_user=True, authentication_form=SignInForm
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("favicon.ico", views.favicon),
    path("admin/", admin.site.urls),
    path("api/v1/", include("salesmgr.api.urls")),
    path("", include("salesmgr.audit.urls")),
    path("", include("coaching.urls")),
    path("", include("reports.urls")),
    path("", include("coaching.urls_insights")),
    path("", include("coaching.urls_sessions")),
    path("", include("coaching.urls_training")),
    path("", include("coaching.urls_ride_alongs")),
    path("", include("coaching.urls_team_meetings")),
    path("", include("coaching.urls_digests")),
    path("", include("coaching.urls_hiring")),
    path("", include("pipeline.urls")),
]

handler404 = "salesmgr.views.not_found"
handler500 = "salesmgr.views.server_error"
