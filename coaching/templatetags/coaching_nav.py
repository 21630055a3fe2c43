"""The site menu's Coaching entry, drawn from ``coaching.sections.SECTIONS``.

``{% coaching_menu %}`` in ``base.html`` renders a link to the coaching hub;
``static/js/nav.js`` turns it into a disclosure button (``aria-expanded``)
that shows every section, the current one marked with ``aria-current``.
Without JavaScript the link opens the hub, which lists the same sections.
"""

from django import template

from coaching.sections import sections_for

register = template.Library()

HUB = "coaching"


@register.inclusion_tag("coaching/_nav_menu.html", takes_context=True)
def coaching_menu(context) -> dict:
    request = context.get("request")
    match = getattr(request, "resolver_match", None)
    here = match.url_name if match else None
    sections = [
        (section, section.is_current(here))
        for section in sections_for(getattr(request, "user", None))
    ]
    return {
        "sections": sections,
        "on_hub": here == HUB,
        "current": here == HUB or any(current for _, current in sections),
    }
