"""The rules an assignment rule keeps, and a proposed realignment's changes.

Each check takes plain values and returns ``{field: [message, ...]}``, empty
when they pass; the rule services, the preview and the API call the same ones.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from pipeline.checks.deals import Errors, merge_errors
from pipeline.models import Account
from quotas.checks import territory_members_errors
from quotas.models import Territory
from salesmgr.models import User

# ISO 3166-1 alpha-2, the officially assigned codes.
COUNTRY_CODES = frozenset(
    [
        "AD",
        "AE",
        "AF",
        "AG",
        "AI",
        "AL",
        "AM",
        "AO",
        "AQ",
        "AR",
        "AS",
        "AT",
        "AU",
        "AW",
        "AX",
        "AZ",
        "BA",
        "BB",
        "BD",
        "BE",
        "BF",
        "BG",
        "BH",
        "BI",
        "BJ",
        "BL",
        "BM",
        "BN",
        "BO",
        "BQ",
        "BR",
        "BS",
        "BT",
        "BV",
        "BW",
        "BY",
        "BZ",
        "CA",
        "CC",
        "CD",
        "CF",
        "CG",
        "CH",
        "CI",
        "CK",
        "CL",
        "CM",
        "CN",
        "CO",
        "CR",
        "CU",
        "CV",
        "CW",
        "CX",
        "CY",
        "CZ",
        "DE",
        "DJ",
        "DK",
        "DM",
        "DO",
        "DZ",
        "EC",
        "EE",
        "EG",
        "EH",
        "ER",
        "ES",
        "ET",
        "FI",
        "FJ",
        "FK",
        "FM",
        "FO",
        "FR",
        "GA",
        "GB",
        "GD",
        "GE",
        "GF",
        "GG",
        "GH",
        "GI",
        "GL",
        "GM",
        "GN",
        "GP",
        "GQ",
        "GR",
        "GS",
        "GT",
        "GU",
        "GW",
        "GY",
        "HK",
        "HM",
        "HN",
        "HR",
        "HT",
        "HU",
        "ID",
        "IE",
        "IL",
        "IM",
        "IN",
        "IO",
        "IQ",
        "IR",
        "IS",
        "IT",
        "JE",
        "JM",
        "JO",
        "JP",
        "KE",
        "KG",
        "KH",
        "KI",
        "KM",
        "KN",
        "KP",
        "KR",
        "KW",
        "KY",
        "KZ",
        "LA",
        "LB",
        "LC",
        "LI",
        "LK",
        "LR",
        "LS",
        "LT",
        "LU",
        "LV",
        "LY",
        "MA",
        "MC",
        "MD",
        "ME",
        "MF",
        "MG",
        "MH",
        "MK",
        "ML",
        "MM",
        "MN",
        "MO",
        "MP",
        "MQ",
        "MR",
        "MS",
        "MT",
        "MU",
        "MV",
        "MW",
        "MX",
        "MY",
        "MZ",
        "NA",
        "NC",
        "NE",
        "NF",
        "NG",
        "NI",
        "NL",
        "NO",
        "NP",
        "NR",
        "NU",
        "NZ",
        "OM",
        "PA",
        "PE",
        "PF",
        "PG",
        "PH",
        "PK",
        "PL",
        "PM",
        "PN",
        "PR",
        "PS",
        "PT",
        "PW",
        "PY",
        "QA",
        "RE",
        "RO",
        "RS",
        "RU",
        "RW",
        "SA",
        "SB",
        "SC",
        "SD",
        "SE",
        "SG",
        "SH",
        "SI",
        "SJ",
        "SK",
        "SL",
        "SM",
        "SN",
        "SO",
        "SR",
        "SS",
        "ST",
        "SV",
        "SX",
        "SY",
        "SZ",
        "TC",
        "TD",
        "TF",
        "TG",
        "TH",
        "TJ",
        "TK",
        "TL",
        "TM",
        "TN",
        "TO",
        "TR",
        "TT",
        "TV",
        "TW",
        "TZ",
        "UA",
        "UG",
        "UM",
        "US",
        "UY",
        "UZ",
        "VA",
        "VC",
        "VE",
        "VG",
        "VI",
        "VN",
        "VU",
        "WF",
        "WS",
        "YE",
        "YT",
        "ZA",
        "ZM",
        "ZW",
    ]
)
PRIORITY_MAX = 10_000
TEXT_MAX = 80
POSTCODE_PREFIX = re.compile(r"[0-9A-Za-z][0-9A-Za-z -]{0,15}")
UNKNOWN_COUNTRY = (
    "Unknown country code {code!r}: use ISO 3166-1 alpha-2 in capitals, such as DE or US."
)
NO_CONDITION = "A rule needs at least one condition; one without any would take every account."
RANGE_BACKWARDS = "The minimum is above the maximum."
NEGATIVE = "Cannot be negative."
NO_SUCH_ACCOUNT = "No account {pk}."


# A rule's priority and conditions: the fields a rule, its values and a proposed rule share.
RULE_FIELDS = (
    "priority",
    "countries",
    "regions",
    "industries",
    "employees_min",
    "employees_max",
    "revenue_min",
    "revenue_max",
    "postcode_prefixes",
)


@dataclass
class RuleValues:
    """A rule's values as a client sent them, before they are a ``TerritoryRule``."""

    priority: int = 100
    countries: list = field(default_factory=list)
    regions: list = field(default_factory=list)
    industries: list = field(default_factory=list)
    employees_min: int | None = None
    employees_max: int | None = None
    revenue_min: Decimal | None = None
    revenue_max: Decimal | None = None
    postcode_prefixes: list = field(default_factory=list)
    account_ids: list = field(default_factory=list)


def country_errors(code: str) -> list[str]:
    """An account's or a rule's country: blank, or a known ISO 3166-1 alpha-2 code in capitals."""
    if code == "" or code in COUNTRY_CODES:
        return []
    return [UNKNOWN_COUNTRY.format(code=code)]


def _texts_errors(values: list, what: str) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        return [f"Give a list of {what}."]
    if any(not v.strip() or len(v) > TEXT_MAX for v in values):
        return [f"Each of the {what} is 1 to {TEXT_MAX} characters."]
    if len({v.casefold() for v in values}) != len(values):
        return [f"The {what} repeat one another."]
    return []


def rule_errors(rule: RuleValues) -> Errors:
    """What refuses a rule: no condition, a backwards or negative range, an unknown country,
    a bad postcode prefix, a named account that does not exist, a priority out of range."""
    errors: Errors = {}
    if not isinstance(rule.priority, int) or not 0 <= rule.priority <= PRIORITY_MAX:
        errors["priority"] = [f"Give a whole number from 0 to {PRIORITY_MAX}."]
    for name, what in (("countries", "country codes"), ("regions", "regions"), ("industries", "industries"),
                       ("postcode_prefixes", "postcode prefixes")):  # fmt: skip
        found = _texts_errors(getattr(rule, name), what)
        if found:
            errors[name] = found
    if "countries" not in errors:
        found = [message for code in rule.countries for message in country_errors(code)]
        if found:
            errors["countries"] = found
    if "postcode_prefixes" not in errors and any(
        not POSTCODE_PREFIX.fullmatch(prefix) for prefix in rule.postcode_prefixes
    ):
        errors["postcode_prefixes"] = [
            "A postcode prefix is letters, digits, spaces or dashes, starting with a letter or digit."
        ]
    for low_name, high_name in (("employees_min", "employees_max"), ("revenue_min", "revenue_max")):
        low, high = getattr(rule, low_name), getattr(rule, high_name)
        for name, value in ((low_name, low), (high_name, high)):
            if value is not None and value < 0:
                errors[name] = [NEGATIVE]
        if low is not None and high is not None and low > high and low_name not in errors:
            errors[low_name] = [RANGE_BACKWARDS]
    if rule.account_ids:
        known = set(
            Account.objects.filter(pk__in=rule.account_ids, deleted_at__isnull=True).values_list(
                "pk", flat=True
            )
        )
        missing = [pk for pk in rule.account_ids if pk not in known]
        if missing:
            errors["accounts"] = [NO_SUCH_ACCOUNT.format(pk=pk) for pk in missing]
    conditions = (
        rule.countries,
        rule.regions,
        rule.industries,
        rule.postcode_prefixes,
        rule.account_ids,
    )
    ranges = (rule.employees_min, rule.employees_max, rule.revenue_min, rule.revenue_max)
    if not any(conditions) and all(value is None for value in ranges):
        errors.setdefault("non_field_errors", []).append(NO_CONDITION)
    return errors


def territory_changes_errors(changes: Sequence) -> dict:
    """What refuses a proposed realignment, by position: ``{"territories": {i: {field: ...}}}``.

    Each territory is named once and exists; its rules pass ``rule_errors``;
    its members are reps.
    """
    found: dict[int, dict] = {}
    known = set(
        Territory.objects.filter(pk__in=[c.territory_id for c in changes]).values_list(
            "pk", flat=True
        )
    )
    seen: set[int] = set()
    member_ids = {pk for c in changes for pk in (c.member_ids or ())}
    people = {user.pk: user for user in User.objects.filter(pk__in=member_ids)}
    for index, change in enumerate(changes):
        errors: dict = {}
        if change.territory_id not in known:
            errors["territory"] = [f"No territory {change.territory_id}."]
        elif change.territory_id in seen:
            errors["territory"] = ["This territory is named twice."]
        seen.add(change.territory_id)
        rule_found = {}
        for position, spec in enumerate(change.rules or ()):
            problems = rule_errors(
                RuleValues(**spec.values(), account_ids=sorted(spec.account_ids))
            )
            if problems:
                rule_found[position] = problems
        if rule_found:
            errors["rules"] = rule_found
        if change.member_ids is not None:
            missing = [pk for pk in change.member_ids if pk not in people]
            members = merge_errors(
                {"reps": [f"No person {pk}." for pk in missing]} if missing else {},
                territory_members_errors(
                    reps=[people[pk] for pk in change.member_ids if pk in people]
                ),
            )
            errors.update(members)
        if errors:
            found[index] = errors
    return {"territories": found} if found else {}
