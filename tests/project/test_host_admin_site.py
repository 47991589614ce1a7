"""A host project that serves the app on an admin site of its own (``AdminSite(name=...)``
under its own prefix), beside or instead of ``admin.site``: every link on the app's pages
stays on that site."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.test import override_settings
from django.urls import path, reverse

from laaffic_recall.admin.attempts import CancelAttemptAdmin
from laaffic_recall.admin.syncruns import SyncRunAdmin
from laaffic_recall.admin.tasks import RecallNodeAdmin, RecallTaskAdmin
from laaffic_recall.models import (
    CancelAttempt,
    CancelType,
    Outcome,
    RecallNode,
    RecallTask,
    SyncRun,
)
from tests.support.audit import attempt_on
from tests.support.mirror import make_nodes, make_task
from tests.support.vendor import COMPLETED, PENDING

pytestmark = pytest.mark.django_db


class SupportSite(admin.AdminSite):
    site_header = "Support desk"


support_site = SupportSite(name="support")
for model, model_admin in (
    (RecallTask, RecallTaskAdmin),
    (RecallNode, RecallNodeAdmin),
    (CancelAttempt, CancelAttemptAdmin),
    (SyncRun, SyncRunAdmin),
):
    support_site.register(model, model_admin)
support_site.register(get_user_model(), UserAdmin)

# This module is the host's URLconf in these tests: the default site stays at /admin/.
urlpatterns = [
    path("admin/", admin.site.urls),
    path("backoffice/", support_site.urls),
]


def support_url(name: str, *args) -> str:
    return reverse(f"admin:laaffic_recall_{name}", args=args, current_app="support")


def hrefs(response) -> list[str]:
    return re.findall(r'href="(/[^"]*)"', response.content.decode())


@pytest.fixture
def site_pages():
    with override_settings(ROOT_URLCONF=__name__):
        task = make_task(501, status=PENDING)
        nodes = make_nodes(task, COMPLETED, PENDING)
        attempt = attempt_on(
            task,
            CancelType.NODE,
            nodes[1].key_id,
            Outcome.SKIPPED,
            node=nodes[1],
            username="agent",
        )
        run = SyncRun.objects.create(trigger="schedule", failure_count=1, failures="page x: busy")
        yield {
            "overview": reverse(
                "admin:app_list", kwargs={"app_label": "laaffic_recall"}, current_app="support"
            ),
            "sync runs": support_url("syncrun_changelist"),
            "sync run": support_url("syncrun_change", run.pk),
            "task list": support_url("recalltask_changelist"),
            "task page": support_url("recalltask_change", task.pk),
            "node list": support_url("recallnode_changelist"),
            "node page": support_url("recallnode_change", nodes[1].pk),
            "audit list": support_url("cancelattempt_changelist"),
            "audit page": support_url("cancelattempt_change", attempt.pk),
            "cancel task": support_url("recalltask_cancel", task.pk),
            "cancel from node": support_url("recalltask_cancel_from_node", task.pk, nodes[1].pk),
            "cancel by parent": support_url("recalltask_cancel_by_parent"),
        }


def test_the_site_is_mounted_where_the_host_chose(site_pages):
    assert all(url.startswith("/backoffice/laaffic_recall/") for url in site_pages.values())


@pytest.mark.parametrize(
    "page",
    [
        "overview",
        "sync runs",
        "sync run",
        "task list",
        "task page",
        "node list",
        "node page",
        "audit list",
        "audit page",
        "cancel task",
        "cancel from node",
        "cancel by parent",
    ],
)
def test_every_link_on_the_apps_pages_stays_on_the_hosts_site(admin_client, site_pages, page):
    with override_settings(ROOT_URLCONF=__name__):
        response = admin_client.get(site_pages[page])

    assert response.status_code == 200
    links = hrefs(response)
    assert any(link.startswith("/backoffice/laaffic_recall/") for link in links)
    assert [link for link in links if link.startswith("/admin/")] == []
