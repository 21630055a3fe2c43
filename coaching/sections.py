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
    # Shown to managers and admins only (a rep's menu and hub leave it out).
    managers_only: bool = False

    def is_current(self, url_name: str | None) -> bool:
        return url_name == self.url_name or url_name in self.pages

    def shown_to(self, user) -> bool:
        return not self.managers_only or bool(
            getattr(user, "is_admin", False) or getattr(user, "is_manager", False)
        )


SECTIONS: tuple[Section, ...] = (
    Section(
        "One-on-ones",
        "one-on-ones",
        ("one-on-one", "one-on-one-series"),
        "Regular meetings with each rep: an agenda from the data, notes and action items.",
    ),
    Section(
        "Team meetings",
        "team-meetings",
        ("team-meeting",),
        "The weekly team meeting: wins, the forecast against quota, deals that moved, minutes.",
    ),
    Section(
        "Coaching sessions",
        "coaching-sessions",
        ("coaching-session", "coaching-session-new"),
        "GROW sessions on a skill, a stage or a deal, with the figures before and after.",
    ),
    Section(
        "Ride-alongs",
        "ride-alongs",
        ("ride-along", "ride-along-new", "ride-along-edit", "skills"),
        "Client visits made with a rep, scored skill by skill, and each rep's skills history.",
    ),
    Section(
        "Insights",
        "insights",
        description="A rep against their team, metric by metric, and the stage to coach next.",
    ),
    Section(
        "Training",
        "training",
        ("onboarding",),
        "Courses and certifications: who has done what, what is due or expiring; onboarding.",
    ),
    Section(
        "Mentoring",
        "mentorships",
        ("mentorship",),
        "Mentor pairings between a senior rep and a new one, and their meetings.",
    ),
    Section(
        "Hiring",
        "hiring",
        (
            "hiring-capacity",
            "hiring-positions",
            "hiring-position",
            "hiring-board",
            "hiring-applicant",
        ),
        "How many reps next year's target needs, open positions and the applicant board.",
        managers_only=True,
    ),
    Section(
        "Weekly digest",
        "digest-preview",
        ("digest-settings",),
        "Your weekly e-mail: a preview of the next one, and the day and hour it goes out.",
    ),
)


def sections_for(user) -> tuple[Section, ...]:
    """The sections ``user`` is shown."""
    return tuple(section for section in SECTIONS if section.shown_to(user))
