"""Compensation: commission plans and monthly commission statements (see README)."""
