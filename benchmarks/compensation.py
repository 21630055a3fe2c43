"""Commission statements and budget figures on the demo data: time and queries of one statement,
a month for every rep, and a team budget's figures.

Run after ``seed_demo``: ``.venv/bin/python manage.py shell < benchmarks/compensation.py``.
"""

import datetime
import time

from django.db import connection
from django.test.utils import CaptureQueriesContext

from reports.budget.models import TeamBudget
from reports.budget.selectors import budget_figures
from reports.compensation.services import statement_preview, statements_compute_month
from salesmgr.models import User

rep = User.objects.filter(role="rep").order_by("pk").first()
month = datetime.date(2026, 11, 1)
with CaptureQueriesContext(connection) as queries:
    start = time.perf_counter()
    statement_preview(rep=rep, month=month, as_of=datetime.date(2026, 11, 30))
    one = time.perf_counter() - start
print(f"one statement computed (not stored): {one * 1000:.0f} ms, {len(queries)} queries")

start = time.perf_counter()
made = statements_compute_month(month=month, as_of=datetime.date(2026, 11, 30), by=None)
whole = time.perf_counter() - start
print(f"a month for every rep ({len(made)} statements, stored): {whole:.2f} s")

budget = TeamBudget.objects.filter(year=2026).order_by("pk").first()
with CaptureQueriesContext(connection) as queries:
    start = time.perf_counter()
    budget_figures(budget, datetime.date(2026, 12, 3))
    took = time.perf_counter() - start
print(f"a team budget's figures: {took * 1000:.0f} ms, {len(queries)} queries")
