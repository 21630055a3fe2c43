"""Small helpers the pipeline's pages share."""

from dataclasses import dataclass

from django.db.models import QuerySet
from django.http import HttpRequest

PAGE_SIZE = 50
# Counting every row costs more than the page at scale; past this we say "10,000+".
COUNT_CAP = 10_000


@dataclass
class Page:
    """One page of a list: its rows, where it sits, and a count that stops at ``COUNT_CAP``."""

    rows: list
    number: int
    per_page: int
    count: int
    count_capped: bool
    has_next: bool
    # The count is the database's estimate (no last page then either): "about N".
    count_estimated: bool = False

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def previous_number(self) -> int:
        return self.number - 1

    @property
    def next_number(self) -> int:
        return self.number + 1

    @property
    def first_index(self) -> int:
        return (self.number - 1) * self.per_page + 1 if self.rows else 0

    @property
    def last_index(self) -> int:
        return (self.number - 1) * self.per_page + len(self.rows)

    @property
    def last_number(self) -> int | None:
        """The last page's number, when the count is exact."""
        if self.count_capped:
            return None
        return max((self.count + self.per_page - 1) // self.per_page, 1)


def page_number(request: HttpRequest) -> int:
    try:
        return max(int(request.GET.get("page", 1)), 1)
    except (TypeError, ValueError):
        return 1


def paginate(
    queryset: QuerySet, request: HttpRequest, per_page: int = PAGE_SIZE, read=None
) -> Page:
    """Two queries whatever the size: a capped count, and the page's rows (one extra to see a next page).

    ``read(offset, limit)``, when given, reads those rows of ``queryset`` its own way."""
    number = page_number(request)
    count = queryset.order_by()[: COUNT_CAP + 1].count()
    capped = count > COUNT_CAP
    if not capped:
        last = max((count + per_page - 1) // per_page, 1)
        number = min(number, last)
    offset = (number - 1) * per_page
    if read is None:
        rows = list(queryset[offset : offset + per_page + 1])
    else:
        rows = read(offset, per_page + 1)
    return Page(
        rows=rows[:per_page],
        number=number,
        per_page=per_page,
        count=min(count, COUNT_CAP),
        count_capped=capped,
        has_next=len(rows) > per_page,
    )


def query_without(request: HttpRequest, *names: str) -> str:
    """The current query string less some parameters, for links that change only those."""
    params = request.GET.copy()
    for name in names:
        params.pop(name, None)
    return params.urlencode()


def carried_along(options: dict, shown: tuple[str, ...]) -> list[tuple[str, str]]:
    """What a filter bar carries hidden: parameters neither the picker's nor its own (``shown``)."""
    return [(name, value) for name, value in options["picker"]["hidden"] if name not in shown]


def wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")
