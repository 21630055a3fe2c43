"""Every ORM write goes through a service.

The project's own Python source is read (not imported) and every call that
writes through the ORM (``.save()``, ``.create()``, ``.update()``,
``.delete()``, ``bulk_*``, ``get_or_create``, ``update_or_create``) must sit
in a ``services`` module or package, or in a migration. Tests and benchmarks
build their own data and are not read.

The rule is read from the call's shape, since the source is not run: calls
that cannot be Django's writes are passed over (see ``_is_orm_write``).

Django's admin and DRF's viewsets write without a call in our source (their
default ``save_model``, ``perform_create`` and so on), so the admin of every
model of ours and every viewset of the API must override the methods that
would write.
"""

import ast
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.utils import flatten_fieldsets
from rest_framework import mixins

from salesmgr.admin import ReadOnlyForAdmins
from salesmgr.api.urls import router

ROOT = Path(__file__).resolve().parents[1]
NOT_READ = {".venv", "tests", "benchmarks", "migrations", "node_modules", "static", "templates"}
WRITES = {"save", "create", "update", "delete", "get_or_create", "update_or_create"}
RELATION_WRITES = {"add", "set", "remove", "clear"}
OWN_APPS = {"salesmgr", "pipeline", "quotas", "reports", "coaching"}
# The names by which a row reaches its many-to-many rows (``territory.reps``,
# ``user.territories``): ``add``/``set``/``remove``/``clear`` on them write.
MANY_TO_MANY = {
    name
    for model in apps.get_models()
    if model._meta.app_label in OWN_APPS
    for field in model._meta.many_to_many
    for name in (field.name, field.related_query_name(), field.remote_field.get_accessor_name())
    if name and not name.endswith("+")
}

# (path, enclosing function) -> why that write may stay where it is. Keep it short.
# Empty today: the writes that are rightly not ours happen inside the libraries,
# which are not read (Django's login saving last_login and the session, DRF's
# token table through token_issue, simple_history's rows written by a deal's
# save inside the deal services, django-celery-beat's schedule tables).
ALLOWED: dict[tuple[str, str], str] = {}


def _source_files() -> list[Path]:
    return sorted(
        path
        for path in ROOT.rglob("*.py")
        if not NOT_READ & set(path.relative_to(ROOT).parts[:-1])
        and path.relative_to(ROOT).parts[0] not in NOT_READ
    )


def _is_service_module(path: Path) -> bool:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return "services" in parts


def _is_orm_write(call: ast.Call) -> bool:
    """Whether ``call`` has the shape of a Django ORM write.

    ``add``, ``set``, ``remove`` and ``clear`` write when called on a
    many-to-many relation of our models (``territory.reps.add(rep)``).

    Passed over: ``super().save(...)`` (a model extending its own save, which
    writes only where it is called), ``form.save(commit=False)`` (writes
    nothing), and ``create``/``update``/``delete``/``save`` with positional
    arguments, which Django's writes do not take but ``dict.update(other)``,
    ``cache.delete(key)`` and a progress bar's ``update(n)`` do. An ``update``
    on a subscript (``data["key"].update(...)``) is a dict's: Django refuses
    to update a sliced query.
    """
    func = call.func
    if not isinstance(func, ast.Attribute):
        return False
    name = func.attr
    receiver = func.value
    if name in RELATION_WRITES:
        return isinstance(receiver, ast.Attribute) and receiver.attr in MANY_TO_MANY
    if not (name in WRITES or name.startswith("bulk_")):
        return False
    if isinstance(receiver, ast.Call) and getattr(receiver.func, "id", None) == "super":
        return False
    if any(kw.arg == "commit" for kw in call.keywords):
        return False
    if name in WRITES and name not in {"get_or_create", "update_or_create"} and call.args:
        return False
    return not (name == "update" and isinstance(receiver, ast.Subscript))


def _writes_in(path: Path) -> list[tuple[str, str, int, str]]:
    """(path, enclosing function, line, call) for each ORM write in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    relative = path.relative_to(ROOT).as_posix()
    found = []

    def visit(node: ast.AST, scope: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = scope
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                inner = f"{scope}.{child.name}" if scope else child.name
            if isinstance(child, ast.Call) and _is_orm_write(child):
                found.append((relative, scope, child.lineno, ast.unparse(child.func)))
            visit(child, inner)

    visit(tree, "")
    return found


def _offenders() -> list[tuple[str, str, int, str]]:
    return [
        write
        for path in _source_files()
        if not _is_service_module(path)
        for write in _writes_in(path)
        if (write[0], write[1]) not in ALLOWED
    ]


def test_every_orm_write_is_in_a_service():
    offenders = _offenders()
    assert not offenders, "ORM writes outside the services:\n" + "\n".join(
        f"  {path}:{line} in {scope or '<module>'}: {call}()"
        for path, scope, line, call in offenders
    )


def test_every_allowed_write_still_exists():
    """An allowance outlives its write only by mistake; it would hide the next one."""
    present = {
        (write[0], write[1])
        for path in _source_files()
        if not _is_service_module(path)
        for write in _writes_in(path)
    }
    assert set(ALLOWED) <= present


def _writes_in_text(text: str) -> list[str]:
    calls = [node for node in ast.walk(ast.parse(text)) if isinstance(node, ast.Call)]
    return [ast.unparse(call) for call in calls if _is_orm_write(call)]


def test_the_scanner_sees_the_writes_it_must_and_passes_over_the_rest():
    source = """
Deal.objects.create(name="x")
Deal.objects.filter(pk=1).update(name="y")
deal.save()
deal.save(update_fields=["name"])
deal.delete()
Deal.objects.bulk_create(rows)
Stage.objects.bulk_update(rows, ["order"])
Token.objects.get_or_create(user=user)
Quota.objects.update_or_create(owner=owner, defaults={})
serializer.save()
territory.reps.through.objects.bulk_create(rows)
territory.reps.add(rep)
user.territories.set(territories)
super().save(*args, **kwargs)
cache.set(key, 1)
seen.add(name)
formset.save(commit=False)
cache.delete(key)
bar.update(len(rows))
seen.update(more)
parameter["schema"].update(minimum=1)
"""
    assert _writes_in_text(source) == [
        "Deal.objects.create(name='x')",
        "Deal.objects.filter(pk=1).update(name='y')",
        "deal.save()",
        "deal.save(update_fields=['name'])",
        "deal.delete()",
        "Deal.objects.bulk_create(rows)",
        "Stage.objects.bulk_update(rows, ['order'])",
        "Token.objects.get_or_create(user=user)",
        "Quota.objects.update_or_create(owner=owner, defaults={})",
        "serializer.save()",
        "territory.reps.through.objects.bulk_create(rows)",
        "territory.reps.add(rep)",
        "user.territories.set(territories)",
    ]


OWN_ADMINS = [
    model_admin
    for model, model_admin in sorted(
        admin.site._registry.items(), key=lambda item: item[0]._meta.label
    )
    if model._meta.app_label in OWN_APPS and not isinstance(model_admin, ReadOnlyForAdmins)
]


def _inherited(cls: type, name: str, base: type) -> bool:
    return getattr(cls, name) is getattr(base, name)


@pytest.mark.parametrize("model_admin", OWN_ADMINS, ids=str)
def test_every_writable_admin_saves_and_deletes_through_services(model_admin):
    cls = type(model_admin)
    missing = [
        name
        for name in ("save_model", "delete_model", "delete_queryset")
        if _inherited(cls, name, admin.ModelAdmin)
    ]
    writable_inlines = [
        inline for inline in model_admin.inlines if not issubclass(inline, ReadOnlyForAdmins)
    ]
    if writable_inlines and _inherited(cls, "save_formset", admin.ModelAdmin):
        missing.append("save_formset (for " + ", ".join(i.__name__ for i in writable_inlines) + ")")
    shown = (
        flatten_fieldsets(model_admin.fieldsets)
        if model_admin.fieldsets
        else model_admin.fields or [field.name for field in model_admin.model._meta.get_fields()]
    )
    many_to_many = [
        field.name for field in model_admin.model._meta.many_to_many if field.name in shown
    ]
    if many_to_many and _inherited(cls, "save_related", admin.ModelAdmin):
        missing.append("save_related (for " + ", ".join(many_to_many) + ")")
    assert not missing, f"{cls.__name__} writes without a service through {', '.join(missing)}"


WRITES_OF_MIXIN = {
    mixins.CreateModelMixin: ("perform_create",),
    mixins.UpdateModelMixin: ("perform_update",),
    mixins.DestroyModelMixin: ("perform_destroy", "destroy"),
}
VIEWSETS = sorted({viewset for _, viewset, _ in router.registry}, key=lambda cls: cls.__name__)


def _default_writes(viewset: type) -> list[str]:
    """The mixins' default write methods a request can still reach on ``viewset``."""
    reached = []
    for mixin, names in WRITES_OF_MIXIN.items():
        if not issubclass(viewset, mixin) or not all(_inherited(viewset, n, mixin) for n in names):
            continue
        only_patch_overridden = (
            mixin is mixins.UpdateModelMixin
            and not _inherited(viewset, "partial_update", mixin)
            and "put" not in viewset.http_method_names
        )
        if not only_patch_overridden:
            reached.append(names[0])
    return reached


@pytest.mark.parametrize("viewset", VIEWSETS, ids=lambda cls: cls.__name__)
def test_every_api_write_goes_through_a_service(viewset):
    missing = _default_writes(viewset)
    assert not missing, f"{viewset.__name__} writes without a service through {', '.join(missing)}"
