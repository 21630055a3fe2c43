"""What a serving process does once, after Django is set up and before its first request."""

import gc


def settle() -> int:
    """Import every view (the URLconf, and through it the reports, the charts and Plotly), then move
    every object alive after a full collection out of the cyclic garbage collector's reach
    (``gc.freeze``); returns how many were moved.

    Those objects live as long as the process. Left in the collector's oldest generation, each
    of its collections walked them all, about 110 ms of CPU at a time on this code, landing on
    whichever request happened to pass the threshold (one request in six of the forecast report
    at 1,000,000 deals took 260 ms where the others took 145-160). Objects made later are
    collected as before.
    """
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - importing the URLconf imports every view
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
