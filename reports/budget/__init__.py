"""Team budgets: a year's headcount cost and programmes against the spend entered monthly (see README)."""
