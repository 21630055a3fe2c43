from pipeline.selectors import accounts_visible_to
from quotas.models import Territory
from tests.factories import AccountFactory


def test_a_territory_covers_the_territories_inside_it(rep, rep2, manager, outsider):
    emea = Territory.objects.create(name="EMEA")
    france = Territory.objects.create(name="France", parent=emea)
    paris = Territory.objects.create(name="Paris", parent=france)
    emea.reps.add(rep)
    in_paris = AccountFactory(owner=outsider, territory=paris)
    elsewhere = AccountFactory(owner=outsider)

    assert set(accounts_visible_to(rep)) == {in_paris}
    assert set(accounts_visible_to(manager)) == {in_paris}  # through the rep in their team
    assert not accounts_visible_to(rep2).exists()
    assert set(accounts_visible_to(outsider)) == {in_paris, elsewhere}


def test_a_territory_lower_down_does_not_cover_its_parent(rep, outsider):
    emea = Territory.objects.create(name="EMEA")
    france = Territory.objects.create(name="France", parent=emea)
    france.reps.add(rep)
    AccountFactory(owner=outsider, territory=emea)
    assert not accounts_visible_to(rep).exists()
