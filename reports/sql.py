"""SQL building blocks the metrics share, written once for SQLite and PostgreSQL."""

from django.db.models import FloatField, Func


class DaysBetween(Func):
    """``later - earlier`` in fractional days, computed by the database."""

    output_field = FloatField()

    def __init__(self, later, earlier, **extra):
        super().__init__(later, earlier, **extra)

    def _operands(self, compiler):
        later, later_params = compiler.compile(self.source_expressions[0])
        earlier, earlier_params = compiler.compile(self.source_expressions[1])
        return later, earlier, (*later_params, *earlier_params)

    def as_sqlite(self, compiler, connection, **extra_context):
        later, earlier, params = self._operands(compiler)
        return f"(julianday({later}) - julianday({earlier}))", params

    def as_postgresql(self, compiler, connection, **extra_context):
        later, earlier, params = self._operands(compiler)
        return f"(EXTRACT(EPOCH FROM (({later}) - ({earlier}))) / 86400.0)", params

    def as_sql(self, compiler, connection, **extra_context):
        raise NotImplementedError(f"DaysBetween has no SQL for {connection.vendor}")
