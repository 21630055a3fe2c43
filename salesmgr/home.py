"""Panels that apps above the reports add to the home page.

The home page belongs to ``reports``, which may not import the apps above it;
such an app registers a panel's URL name here from its ``AppConfig.ready()``
and the home page loads each one with HTMX, knowing nothing of what it shows.
"""

_panels: list[str] = []


def home_panel_register(url_name: str) -> None:
    """Add the page at ``url_name`` (a fragment) to everyone's home page, once."""
    if url_name not in _panels:
        _panels.append(url_name)


def registered_home_panels() -> list[str]:
    """The URL names of the registered panels, in the order they registered."""
    return list(_panels)
