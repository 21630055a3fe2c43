"""Signing in and out, and the home page each person lands on."""

import datetime
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from pipeline.models import Deal, Pipeline
from pipeline.selectors import open_deal_totals_visible_to
from pipeline.services import account_create, deal_create, deal_move, stage_create
from salesmgr.models import Role
from salesmgr.services import user_create

PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def team_lead(db):
    return user_create(
        username="dana", password=PASSWORD, role=Role.MANAGER, full_name="Dana Whitfield"
    )


@pytest.fixture
def seller(team_lead):
    return user_create(
        username="riley", password=PASSWORD, role=Role.REP, full_name="Riley Rep", manager=team_lead
    )


@pytest.fixture
def colleague(team_lead):
    return user_create(
        username="robin", password=None, role=Role.REP, full_name="Robin Rep", manager=team_lead
    )


@pytest.fixture
def deals(seller, colleague):
    """Riley: two open USD deals (one overdue) and a won one; Robin: one open EUR deal."""
    pipeline = Pipeline.objects.create(name="New business")
    start = stage_create(pipeline=pipeline, name="Start", order=1, probability=20)
    won = stage_create(pipeline=pipeline, name="Won", order=2, probability=100, kind="won")
    stage_create(pipeline=pipeline, name="Lost", order=3, probability=0, kind="lost")

    def deal(owner, name, amount, close, currency="USD"):
        account = account_create(by=owner, name=f"{name} Inc")
        return deal_create(
            by=owner,
            name=name,
            account=account,
            pipeline=pipeline,
            stage=start,
            amount=Decimal(amount),
            currency=currency,
            expected_close_date=close,
        )

    deal(seller, "Alpha", "1000.00", datetime.date(2000, 1, 31))
    deal(seller, "Beta", "2500.50", datetime.date(2999, 1, 31))
    closed = deal(seller, "Gamma", "9999.00", datetime.date(2999, 1, 31))
    deal_move(deal=closed, to_stage=won, by=seller, expected_version=closed.version)
    deal(colleague, "Delta", "700.00", datetime.date(2999, 1, 31), currency="EUR")


def test_anonymous_visitors_are_sent_to_the_login_page(client, db):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next=/"


def test_the_login_page_labels_its_fields(client, db):
    page = client.get(reverse("login")).content.decode()
    assert '<label for="id_username">' in page
    assert '<label for="id_password">' in page


def test_bad_credentials_show_an_error(client, seller):
    response = client.post(reverse("login"), {"username": "riley", "password": "wrong"})
    assert response.status_code == 200
    page = response.content.decode()
    assert 'role="alert"' in page
    assert "Please enter a correct username and password" in page
    assert "_auth_user_id" not in client.session


def test_good_credentials_lead_home(client, seller):
    response = client.post(reverse("login"), {"username": "riley", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("home")


def test_a_rep_sees_their_name_role_manager_and_own_open_deals(
    client, seller, deals, django_assert_max_num_queries
):
    client.force_login(seller)
    with django_assert_max_num_queries(5):
        response = client.get("/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Riley Rep — Rep" in page
    assert "Dana Whitfield" in page  # reports to
    assert "Your team" not in page
    context = response.context
    assert context["open_deals"] == {
        "deals": 2,
        "overdue": 1,
        "values": [("USD", Decimal("3500.50"))],
    }
    assert "USD 3,500.50" in page
    assert "Admin</a>" not in page


def test_a_manager_sees_their_team_and_its_deals_per_currency(client, team_lead, deals):
    client.force_login(team_lead)
    response = client.get("/")
    page = response.content.decode()
    assert "Dana Whitfield — Manager" in page
    assert response.context["team_size"] == 2
    assert "2 people" in page
    assert response.context["open_deals"]["deals"] == 3
    assert response.context["open_deals"]["values"] == [
        ("EUR", Decimal("700.00")),
        ("USD", Decimal("3500.50")),
    ]


def test_an_admin_gets_a_link_to_the_admin(client, db):
    boss = user_create(username="ada", password=None, role=Role.ADMIN, full_name="Ada Admin")
    client.force_login(boss)
    page = client.get("/").content.decode()
    assert "Ada Admin — Admin" in page
    assert f'href="{reverse("admin:index")}"' in page


def test_logout_is_a_post(client, seller):
    client.force_login(seller)
    assert client.get(reverse("logout")).status_code == 405
    assert "_auth_user_id" in client.session
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert "_auth_user_id" not in client.session
    assert client.get("/").status_code == 302


def test_an_unknown_address_renders_the_404_page(client, seller):
    client.force_login(seller)
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


def test_an_unknown_api_address_answers_json(client, db):
    response = client.get("/api/v1/no-such-endpoint/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_the_open_totals_can_be_read_from_an_index_alone(team_lead, deals):
    """The home page's open deals (how many, overdue, value per currency) of a team of tens of
    thousands can come from the open deals' index alone, each entry carrying its currency and
    amount (at 1,000,000 deals, 42 ms instead of 211-285: benchmarks/README.md, page_sweep.py).
    Every column the totals read is in it; its condition is the totals' own."""
    with CaptureQueriesContext(connection) as queries:
        open_deal_totals_visible_to(team_lead, today=datetime.date(2026, 12, 4))
    [totals_query] = [query["sql"] for query in queries if "pipeline_deal" in query["sql"]]
    read = set(re.findall(r'"pipeline_deal"\."(\w+)"', totals_query))
    [index] = [index for index in Deal._meta.indexes if index.name == "deal_open_owner_close_idx"]
    columns = {Deal._meta.get_field(name).column for name in (*index.fields, *index.include)}
    condition = {"status", "deleted_at"}  # the index's condition: open and not deleted
    assert read - condition <= columns, read - condition - columns
    assert dict(index.condition.children) == {"status": "open", "deleted_at__isnull": True}
