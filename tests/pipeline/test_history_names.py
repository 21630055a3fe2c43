"""The names a deal's history shows for the ids it holds: every kind in one query."""

from pipeline.queries import history_names
from salesmgr.models import User
from tests.factories import AccountFactory, LostReasonFactory, UserFactory


def test_accounts_owners_and_lost_reasons_are_named_in_one_query(db, django_assert_num_queries):
    account = AccountFactory(name="Acme & Sons")
    named, plain, bare = (UserFactory(username=name) for name in ("rita", "raj", "sam"))
    User.objects.filter(pk=named.pk).update(full_name="Rita Rep", first_name="R", last_name="X")
    User.objects.filter(pk=plain.pk).update(full_name="", first_name="Raj", last_name="Patel")
    User.objects.filter(pk=bare.pk).update(full_name="", first_name="", last_name="")
    reason = LostReasonFactory(name="Price")
    with django_assert_num_queries(1):
        names = history_names(
            accounts={str(account.pk), "None"},
            owners={str(named.pk), str(plain.pk), str(bare.pk), ""},
            lost_reasons={str(reason.pk), None},
        )
    assert names == {
        "account": {account.pk: "Acme & Sons"},
        "owner": {named.pk: "Rita Rep", plain.pk: "Raj Patel", bare.pk: "sam"},
        "lost_reason": {reason.pk: "Price"},
    }


def test_only_the_kinds_held_are_read_and_none_without_ids(db, django_assert_num_queries):
    reason = LostReasonFactory(name="Timing")
    with django_assert_num_queries(1):
        names = history_names(accounts=set(), owners=set(), lost_reasons={str(reason.pk)})
    assert names == {"account": {}, "owner": {}, "lost_reason": {reason.pk: "Timing"}}
    with django_assert_num_queries(0):
        assert history_names(accounts={"None"}, owners=set(), lost_reasons=set()) == {
            "account": {},
            "owner": {},
            "lost_reason": {},
        }
