"""The same hostile query strings swept over every admin page of both apps, the app's and
the sandbox's: no page answers 5xx."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse

from laaffic_recall.models import CancelAttempt, CancelType, Outcome
from laaffic_recall.sandbox.models import SandboxCall, SandboxFault
from laaffic_recall.sandbox.testing import Status, create_task
from tests.support.mirror import make_nodes, make_task
from tests.support.vendor import PENDING

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

APPS = ("laaffic_recall", "laaffic_sandbox")
HUGE = str(2**70)

# Per field: a broken regex, numbers past any column, NUL, impossible dates, and kin.
FIELD_QUERIES = [
    ("__regex", "["),
    ("__iregex", "(?<"),
    ("", HUGE),
    ("", "-" + HUGE),
    ("__gt", HUGE),
    ("__in", "a,b"),
    ("__contains", "\x00"),
    ("__icontains", "\x00"),
    ("__startswith", "\x00x"),
    ("__year", "99999"),
    ("__year", "99999999999999999999"),
    ("__month", "13"),
    ("__isnull", "maybe"),
    ("__exact", "%"),
]
PAGE_QUERIES = [
    {"o": "99"},
    {"o": "-1.x"},
    {"p": "-1"},
    {"p": HUGE},
    {"q": "\x00"},
    {"q": "#" + HUGE},
    {"e": "1"},
    {"_to_field": "password"},
]
OBJECT_IDS = ["abc", "-1", "0", HUGE, "%00", "1.0"]


def registered() -> list[tuple[type, admin.ModelAdmin]]:
    return sorted(
        (
            (model, model_admin)
            for model, model_admin in admin.site._registry.items()
            if model._meta.app_label in APPS
        ),
        key=lambda pair: pair[0]._meta.label,
    )


def field_names(model) -> list[str]:
    return [f.name for f in model._meta.get_fields() if f.concrete and not f.many_to_many]


def queries(model) -> list[dict]:
    found = list(PAGE_QUERIES)
    for name in field_names(model):
        found += [{f"{name}{lookup}": value} for lookup, value in FIELD_QUERIES]
    return found


@pytest.fixture
def root(client):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


@pytest.fixture
def rows(settings):
    settings.LAAFFIC_SANDBOX = {"API_KEY": "k", "API_SECRET": "s", "TIMEZONE": "UTC"}
    task = make_task(12)
    make_nodes(task, PENDING, PENDING)
    CancelAttempt.objects.create(
        cancel_type=CancelType.TASK, target_id=12, task_key_id=12, outcome=Outcome.REFUSED
    )
    create_task([Status.PENDING, Status.PENDING])
    SandboxFault.objects.create(kind=SandboxFault._meta.get_field("kind").choices[0][0])
    SandboxCall.objects.create(call="cancel", family="ai_agent", body={"id": 1}, http_status=200)


def server_errors(client, url: str, query_strings) -> list:
    failed = []
    for query in query_strings:
        try:
            status = client.get(url, query).status_code
        except Exception as exc:  # a 500 is what we are looking for
            failed.append((url, query, repr(exc)[:200]))
            continue
        if status >= 500:
            failed.append((url, query, status))
    return failed


def test_the_sweep_covers_every_admin_of_both_apps():
    labels = {model._meta.label for model, _ in registered()}
    assert {"laaffic_recall.RecallTask", "laaffic_sandbox.SandboxCall"} <= labels
    assert {"laaffic_sandbox.SandboxTask", "laaffic_sandbox.SandboxFault"} <= labels


@pytest.mark.parametrize(
    "model", [m for m, _ in registered()], ids=lambda m: m._meta.label.replace(".", "-")
)
def test_hostile_query_strings_on_every_admin_page_give_no_5xx(root, rows, model):
    info = (model._meta.app_label, model._meta.model_name)
    changelist = reverse("admin:{}_{}_changelist".format(*info))
    failed = server_errors(root, changelist, queries(model))
    for object_id in OBJECT_IDS:
        for view in ("change", "history", "delete"):
            url = reverse("admin:{}_{}_{}".format(*info, view), args=[object_id])
            failed += server_errors(root, url, [{}])
    failed += server_errors(root, reverse("admin:{}_{}_add".format(*info)), [{"_popup": "x"}])
    assert failed == [], "\n".join(map(repr, failed))


@pytest.mark.parametrize(
    "query",
    [
        "/admin/laaffic_sandbox/sandboxtask/?task_name__regex=%5B",
        "/admin/laaffic_sandbox/sandboxtask/?create_time__year=99999",
        "/admin/laaffic_sandbox/sandboxcall/?at__year=99999999999999999999",
        "/admin/laaffic_sandbox/sandboxcall/?body__contains=%00",
    ],
)
def test_odd_sandbox_queries_reload_the_list(root, rows, query):
    response = root.get(query)
    assert response.status_code == 302 and response.url.endswith("?e=1")
