"""The app's overrides of Django's admin accept whatever the installed Django passes them.

Django 6.1 gave ``ModelAdmin.response_action`` a new argument; an override with a fixed
signature then fails at the first admin action. Run on every supported Django (see
``noxfile.py``), these tests see such a change before a host project does.
"""

from __future__ import annotations

import inspect

import pytest
from django.contrib import admin
from django.contrib.admin.views.main import ChangeList

import laaffic_recall.admin  # noqa: F401  (registers the app's admins)
from laaffic_recall.admin.readonly import GuardedChangeList


def app_classes():
    admins = [
        type(model_admin)
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label in {"laaffic_recall", "laaffic_sandbox"}
    ]
    return [*admins, GuardedChangeList]


def overrides(cls):
    """(name, the app's function, Django's function) for each Django method ``cls`` redefines."""
    django_bases = [
        base for base in cls.__mro__ if base.__module__.startswith("django.") and base is not object
    ]
    for name, function in inspect.getmembers(cls, inspect.isfunction):
        if name.startswith("__") or not function.__module__.startswith("laaffic_recall"):
            continue
        for base in django_bases:
            original = base.__dict__.get(name)
            if inspect.isfunction(original):
                yield name, function, original
                break


def accepts(function, original) -> list[str]:
    """Django's parameters that ``function`` would refuse, by name or by position."""
    params = inspect.signature(function).parameters
    kinds = {p.kind for p in params.values()}
    refused = []
    positional = [
        p for p in params.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    for index, param in enumerate(inspect.signature(original).parameters.values()):
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        by_position = index < len(positional) or inspect.Parameter.VAR_POSITIONAL in kinds
        by_name = param.name in params or inspect.Parameter.VAR_KEYWORD in kinds
        if not (by_position and by_name):
            refused.append(param.name)
    return refused


def test_the_app_overrides_some_of_djangos_admin_methods():
    names = {name for cls in app_classes() for name, _f, _o in overrides(cls)}
    assert {"changelist_view", "get_search_results", "get_results"} <= names


@pytest.mark.parametrize("cls", app_classes(), ids=lambda cls: cls.__name__)
def test_every_override_takes_every_argument_django_passes(cls):
    refused = {
        f"{cls.__name__}.{name}": accepts(function, original)
        for name, function, original in overrides(cls)
    }
    assert {name: params for name, params in refused.items() if params} == {}


def test_the_guarded_change_list_is_djangos_change_list():
    assert issubclass(GuardedChangeList, ChangeList)
