"""The admin for commission plans and statements, and team budgets, one module per area.

Plans, budgets and their amounts are written through their services, as on the
pages and the API; statements are computed and approved only there, so the admin
shows them (every version, with its lines) and changes nothing.
"""

from reports.admin import budget, compensation

__all__ = ["budget", "compensation"]
