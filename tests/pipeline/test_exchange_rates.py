"""Exchange rates: the rules, the services, the CSV upload (all or nothing), the admin and the API."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from pipeline.checks.rates import (
    CSV_HEADER,
    RATE_CURRENCY,
    RATE_POSITIVE,
    RATE_TAKEN,
    exchange_rate_field_errors,
    parse_rate_csv,
)
from pipeline.models import ExchangeRate
from pipeline.services import (
    RowErrors,
    exchange_rate_create,
    exchange_rate_delete,
    exchange_rate_update,
    exchange_rates_import,
)
from reports.models import DirtyScope

D = Decimal
JAN = datetime.date(2026, 1, 1)
RATES = "/api/v1/exchange-rates/"


# The rules, without the database.


@pytest.mark.parametrize(
    ("currency", "field", "message"),
    [
        ("eur", "currency", RATE_CURRENCY),
        ("EURO", "currency", RATE_CURRENCY),
        ("XYZ", "currency", RATE_CURRENCY),
        ("E1R", "currency", RATE_CURRENCY),
        ("ÉUR", "currency", RATE_CURRENCY),
        ("USD", "currency", "USD is the reporting currency: its rate is always 1."),
    ],
)
def test_a_rate_needs_an_iso_code_other_than_the_reporting_currency(currency, field, message):
    assert exchange_rate_field_errors(currency=currency, valid_from=JAN, rate=D("1.1")) == {
        field: message
    }


@pytest.mark.parametrize("rate", [D("0"), D("-1.2"), D("NaN"), D("Infinity"), None, "1.2"])
def test_a_rate_must_be_a_positive_number(rate):
    assert exchange_rate_field_errors(currency="EUR", valid_from=JAN, rate=rate) == {
        "rate": RATE_POSITIVE
    }


def test_a_rate_has_at_most_ten_places_and_a_date():
    errors = exchange_rate_field_errors(
        currency="EUR", valid_from=datetime.datetime(2026, 1, 1), rate=D("1.00000000001")
    )
    assert set(errors) == {"valid_from", "rate"}


def test_the_reporting_currency_follows_the_setting(settings):
    settings.REPORTING_CURRENCY = "EUR"
    assert "currency" in exchange_rate_field_errors(currency="EUR", valid_from=JAN, rate=D("1.1"))
    assert exchange_rate_field_errors(currency="USD", valid_from=JAN, rate=D("0.92")) == {}


# The services.


def test_create_update_and_delete_through_the_services(admin):
    rate = exchange_rate_create(currency="chf", valid_from=JAN, rate=D("1.12"), by=admin)
    assert (rate.currency, rate.rate) == ("CHF", D("1.12"))
    exchange_rate_update(exchange_rate=rate, by=admin, rate=D("1.13"))
    assert ExchangeRate.objects.get().rate == D("1.13")
    with pytest.raises(ValidationError) as refused:
        exchange_rate_create(currency="CHF", valid_from=JAN, rate=D("1.5"), by=admin)
    assert refused.value.message_dict == {"valid_from": [RATE_TAKEN]}
    exchange_rate_delete(exchange_rate=rate, by=admin)
    assert not ExchangeRate.objects.exists()


def test_a_rate_write_marks_every_scope_stale_after_commit(
    admin, rep, manager, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        exchange_rate_create(currency="EUR", valid_from=JAN, rate=D("1.1"), by=admin)
    assert not DirtyScope.objects.exists()
    for callback in callbacks:
        callback()
    assert {"org", f"team={manager.pk}", f"owner={rep.pk}"} <= set(
        DirtyScope.objects.values_list("scope_key", flat=True)
    )


# The CSV.

GOOD = "currency,date,rate\nEUR,2026-01-01,1.0850\ngbp,2026-01-01,1.27\n\nEUR,2026-02-01,1.0900\n"


def test_a_good_csv_loads_every_row_and_replaces_a_stored_rate(admin):
    exchange_rate_create(currency="EUR", valid_from=JAN, rate=D("1.00"), by=admin)
    loaded = exchange_rates_import(text=GOOD, by=admin)
    assert (loaded.created, loaded.updated) == (2, 1)
    assert set(ExchangeRate.objects.values_list("currency", "valid_from", "rate")) == {
        ("EUR", JAN, D("1.0850")),
        ("GBP", JAN, D("1.27")),
        ("EUR", datetime.date(2026, 2, 1), D("1.09")),
    }


def test_a_bad_csv_writes_nothing_and_numbers_every_wrong_row(admin):
    text = (
        "currency,date,rate\n"
        "EUR,2026-01-01,1.08\n"  # row 2: fine
        "USD,2026-01-01,1\n"  # row 3: the reporting currency
        "EUR,01/02/2026,1.09\n"  # row 4: not a date
        "GBP,2026-01-01,-3\n"  # row 5: negative
        "EUR,2026-01-01,1.10\n"  # row 6: repeats row 2
        "EUR,2026-03-01\n"  # row 7: two cells
    )
    with pytest.raises(RowErrors) as refused:
        exchange_rates_import(text=text, by=admin)
    assert [(e["row"], e["field"]) for e in refused.value.errors] == [
        (3, "currency"),
        (4, "date"),
        (5, "rate"),
        (6, "date"),
        (7, "row"),
    ]
    assert "row 2" in refused.value.errors[3]["message"]
    assert not ExchangeRate.objects.exists()


@pytest.mark.parametrize("text", ["", "EUR,2026-01-01,1.08\n", "currency;date;rate\n"])
def test_a_csv_without_its_header_is_refused(text):
    assert parse_rate_csv(text) == ([], [{"row": 1, "field": "file", "message": CSV_HEADER}])


def test_a_csv_with_only_a_header_holds_nothing_to_load():
    rates, errors = parse_rate_csv("currency,date,rate\n")
    assert rates == [] and errors[0]["field"] == "file"


# The admin.


@pytest.fixture
def admin_browser(client, admin):
    client.force_login(admin)
    return client


def test_the_admin_adds_a_rate_through_the_rules(admin_browser):
    url = reverse("admin:pipeline_exchangerate_add")
    refused = admin_browser.post(url, {"currency": "usd", "valid_from": "2026-01-01", "rate": "1"})
    assert refused.status_code == 200
    assert "USD is the reporting currency" in refused.content.decode()
    saved = admin_browser.post(
        url, {"currency": "eur", "valid_from": "2026-01-01", "rate": "1.085"}
    )
    assert saved.status_code == 302
    assert ExchangeRate.objects.get().currency == "EUR"
    clash = admin_browser.post(url, {"currency": "EUR", "valid_from": "2026-01-01", "rate": "1.2"})
    assert RATE_TAKEN in clash.content.decode()


def test_the_admin_upload_loads_a_good_file(admin_browser):
    url = reverse("admin:pipeline_exchangerate_upload")
    assert (
        "Upload CSV"
        in admin_browser.get(reverse("admin:pipeline_exchangerate_changelist")).content.decode()
    )
    response = admin_browser.post(url, {"file": SimpleUploadedFile("rates.csv", GOOD.encode())})
    assert response.status_code == 302
    assert ExchangeRate.objects.count() == 3


def test_the_admin_upload_lists_the_rows_and_loads_nothing(admin_browser):
    url = reverse("admin:pipeline_exchangerate_upload")
    bad = "currency,date,rate\nEUR,2026-01-01,1.08\nEUR,2026-13-01,1.08\n"
    response = admin_browser.post(url, {"file": SimpleUploadedFile("rates.csv", bad.encode())})
    assert response.status_code == 200
    assert "Row 3, date: The date must be a date" in response.content.decode()
    not_text = admin_browser.post(
        url, {"file": SimpleUploadedFile("rates.csv", b"\xff\xfe\x00bad")}
    )
    assert "UTF-8" in not_text.content.decode()
    assert not ExchangeRate.objects.exists()


def test_the_upload_is_for_admins_only(client, manager):
    client.force_login(manager)
    assert client.get(reverse("admin:pipeline_exchangerate_upload")).status_code in (302, 403)


# The API: everyone signed in reads, admins write; bad input is a 400 that says what is wrong.


def test_every_role_reads_the_rates_and_only_admins_write(
    client_for, admin, manager, rep, outsider
):
    exchange_rate_create(currency="EUR", valid_from=JAN, rate=D("1.08"), by=admin)
    for user in (admin, manager, rep, outsider):
        body = client_for(user).get(RATES).json()
        assert [(r["currency"], r["rate"], r["reporting_currency"]) for r in body["results"]] == [
            ("EUR", "1.0800000000", "USD")
        ]
    new = {"currency": "GBP", "valid_from": "2026-01-01", "rate": "1.27"}
    for user in (manager, rep, outsider):
        assert client_for(user).post(RATES, new, format="json").status_code == 403
    assert client_for(None).get(RATES).status_code == 401
    assert client_for(admin).post(RATES, new, format="json").status_code == 201
    assert ExchangeRate.objects.count() == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"currency": "USD", "valid_from": "2026-01-01", "rate": "1"}, "currency"),
        ({"currency": "EU", "valid_from": "2026-01-01", "rate": "1"}, "currency"),
        ({"currency": "EUR", "valid_from": "2026-01-01", "rate": "0"}, "rate"),
        ({"currency": "EUR", "valid_from": "2026-01-01", "rate": "-2"}, "rate"),
        ({"currency": "EUR", "valid_from": "yesterday", "rate": "1.1"}, "valid_from"),
        ({"currency": "EUR", "valid_from": "2026-01-01"}, "rate"),
    ],
)
def test_bad_rates_answer_400_naming_the_field(client_for, admin, body, field):
    response = client_for(admin).post(RATES, body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not ExchangeRate.objects.exists()


def test_a_second_rate_for_the_same_day_is_a_400(client_for, admin):
    exchange_rate_create(currency="EUR", valid_from=JAN, rate=D("1.08"), by=admin)
    response = client_for(admin).post(
        RATES, {"currency": "eur", "valid_from": "2026-01-01", "rate": "1.1"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"valid_from": [RATE_TAKEN]}


def test_the_rate_list_runs_the_same_queries_for_3_rows_as_for_30(
    client_for, admin, django_assert_num_queries
):
    client = client_for(admin)
    for day in range(3):
        exchange_rate_create(
            currency="EUR", valid_from=JAN + datetime.timedelta(days=day), rate=D("1.1"), by=admin
        )
    with django_assert_num_queries(2):
        assert client.get(RATES).status_code == 200
    for day in range(3, 30):
        exchange_rate_create(
            currency="EUR", valid_from=JAN + datetime.timedelta(days=day), rate=D("1.1"), by=admin
        )
    with django_assert_num_queries(2):
        assert len(client.get(RATES).json()["results"]) == 30
