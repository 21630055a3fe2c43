"""The parts of the coaching app, in the order its menu lists them.

Each part adds one ``Section`` here; the site menu and the coaching
sub-navigation are drawn from this list, so a new page needs no template edit
to be reachable.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Section:
    label: str
    url_name: str
    # URL names of the section's own pages, so the menu marks it current on them.
    pages: tuple[str, ...] = ()
    # One line for the coaching hub's card of the section.
    description: str = ""

    def is_current(self, url_name: str | None) -> bool:
        return url_name == self.url_name or url_name in self.pages


SECTIONS: tuple[Section, ...] = (
    Section(
        "One-on-ones",
        "one-on-ones",
        ("one-on-one", "one-on-one-series"),
        "Regular meetings with each rep: an agenda from the data, notes and action items.",
    ),
    Section(
        "Insights",
        "insights",
        description="A rep against their team, metric by metric, and the stage to coach next.",
    ),
)
