"""Doorbells rung by pipeline services after their transaction commits.

Higher layers (reports) connect receivers in their ``AppConfig.ready()``.
"""

from django.dispatch import Signal

# Sent with ``deal_ids`` (a list of ints) once a change to those deals is committed.
deals_changed = Signal()

# Sent (no arguments) once a change to the exchange rates is committed: every converted figure may move.
rates_changed = Signal()

# Sent with ``tables`` (table names) before a bulk load writes those tables with their triggers'
# work left to the end, and again, once loaded, after it: receivers may switch off their
# triggers on them at the start and count once at the end.
bulk_load_starting = Signal()
bulk_load_finished = Signal()
