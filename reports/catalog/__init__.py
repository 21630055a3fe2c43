"""The reports under the site's Reports menu.

Each report is a module here that registers one ``Report`` (see ``base``);
importing the package registers them all, in the order of the imports below,
which is the order the menu and the reports index list them.
"""

from reports.catalog.base import (
    REPORTS,
    Column,
    Report,
    ReportResult,
    register,
    report_for,
    reports_for,
)

__all__ = ["REPORTS", "Column", "Report", "ReportResult", "register", "report_for", "reports_for"]

# One line per report, in menu order:
# from reports.catalog import <module>  # noqa: E402, F401
from reports.catalog import funnel_activity  # noqa: E402, F401, I001
from reports.catalog import forecast  # noqa: E402, F401, I001
from reports.catalog import commitments  # noqa: E402, F401, I001
from reports.catalog import products_sold  # noqa: E402, F401, I001
from reports.catalog import rep_scorecards  # noqa: E402, F401, I001
from reports.catalog import lost_reasons  # noqa: E402, F401, I001
from reports.catalog import team_health  # noqa: E402, F401, I001
