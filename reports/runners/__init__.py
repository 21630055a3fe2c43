"""Runners: one per report, the one code path the API and the browser pages call.

A runner takes typed input (a ``Scope``, a ``Period`` or a date) and answers
``run()``. Funnel and forecast runners answer from the latest snapshot that
matches the question, even when deals changed since (``stale``: a recompute
is on its way), and compute live (and store it) only when there is none;
every answer says which (``source``), when it was computed (``computed_at``)
and whether it is ``stale``. Every runner issues
a fixed number of queries, whatever the number of deals or people.
"""

from reports.runners.accuracy import AccuracyRunner
from reports.runners.attainment import quota_attainment
from reports.runners.attention import (
    AttentionRunner,
    OverdueDealsRunner,
    StalledDealsRunner,
    rotting_stages,
)
from reports.runners.dashboard_lists import DashboardListsRunner
from reports.runners.forecast import ForecastRunner
from reports.runners.funnel import FunnelRunner, PreviousTotalsRunner
from reports.runners.gap import GapRunner
from reports.runners.leaderboard import LeaderboardRunner
from reports.runners.pipeline_by_stage import PipelineByStageRunner
from reports.runners.recent_activity import RecentActivityRunner
from reports.runners.series import SeriesRunner

__all__ = [
    "AccuracyRunner",
    "AttentionRunner",
    "DashboardListsRunner",
    "ForecastRunner",
    "GapRunner",
    "FunnelRunner",
    "LeaderboardRunner",
    "OverdueDealsRunner",
    "PipelineByStageRunner",
    "PreviousTotalsRunner",
    "RecentActivityRunner",
    "SeriesRunner",
    "StalledDealsRunner",
    "quota_attainment",
    "rotting_stages",
]
