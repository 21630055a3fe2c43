"""Forms of the core: the sign-in forms (the app's and the admin's) with the shared sign-in throttle."""

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import authenticate
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from salesmgr.services import SignInLocked, client_address, signin_attempt, signin_succeeded


class ThrottledSignIn:
    """Count each attempt against the account and the address before the password is checked."""

    error_messages = {**AuthenticationForm.error_messages, "locked": "%(message)s"}

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is None or not password:
            return self.cleaned_data
        try:
            attempt = signin_attempt(username=username, address=client_address(self.request))
        except SignInLocked as locked:
            raise ValidationError(
                self.error_messages["locked"], code="locked", params={"message": str(locked)}
            ) from None
        self.user_cache = authenticate(self.request, username=username, password=password)
        if self.user_cache is None:
            raise self.get_invalid_login_error()
        signin_succeeded(attempt)
        self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


class SignInForm(ThrottledSignIn, AuthenticationForm):
    """The sign-in page's form."""


class AdminSignInForm(ThrottledSignIn, AdminAuthenticationForm):
    """The Django admin's sign-in form: the same count, so the admin is no way round the limit."""

    error_messages = {**AdminAuthenticationForm.error_messages, "locked": "%(message)s"}
