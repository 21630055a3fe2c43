"""Pure checks of a webhook subscription's fields: they return the errors and write nothing."""

from django.conf import settings

from pipeline.webhooks.models import SUBSCRIBABLE_EVENTS
from pipeline.webhooks.transport import url_errors

Errors = dict[str, list[str]]
ONLY_ADMINS = "Only admins manage webhooks."


def webhook_subscription_errors(*, name: str | None, url: str | None, events) -> Errors:
    """What is wrong with a subscription's name, URL and events (each None: not being changed)."""
    errors: Errors = {}
    if name is not None and not name.strip():
        errors["name"] = ["Give the subscription a name."]
    elif name is not None and len(name.strip()) > 120:
        errors["name"] = ["Use at most 120 characters."]
    if url is not None:
        problems = (
            ["Use at most 500 characters."]
            if len(url) > 500
            else url_errors(url, allow_private=settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS)
        )
        if problems:
            errors["url"] = problems
    if events is not None:
        if not isinstance(events, list | tuple) or not events:
            errors["events"] = ["Choose at least one event."]
        else:
            unknown = sorted({str(e) for e in events} - set(SUBSCRIBABLE_EVENTS))
            if unknown:
                errors["events"] = [
                    f"Unknown event(s): {', '.join(unknown)}; choose among "
                    f"{', '.join(SUBSCRIBABLE_EVENTS)}."
                ]
    return errors
