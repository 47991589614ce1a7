"""axe-core on every page of the app, at phone and laptop width, as agents who use a
keyboard or a screen reader all day meet them.

Any violation in the app's own markup fails. Django admin's own parts of the page are
left out (``DJANGO_OWN``): the change list's search bar, filters, action bar, paginator and
date drill-down, the breadcrumbs, the navigation sidebar, the header's user tools and theme
toggle, and the change list's column headers and row checkboxes.
The bundled site's header (its badge and subtitle) is checked.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from laaffic_recall.models import CancelAttempt, CancelType, Outcome

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core-4.14.1.min.js"
DJANGO_OWN = [
    "#changelist-search",
    "#changelist-filter",
    "#changelist-form .actions",
    "#changelist-form .paginator",
    ".xfull",
    "#nav-sidebar",
    "#toggle-nav-sidebar",
    "#user-tools > a",
    ".theme-toggle",
    "#result_list thead",
    ".breadcrumbs",
    "#result_list .action-checkbox",
]

RUN_AXE = """async (exclude) => {
  const result = await axe.run({ exclude: exclude.map((s) => [s]) }, {
    resultTypes: ["violations"],
  });
  return result.violations.map((v) => ({
    id: v.id,
    help: v.help,
    nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5),
  }));
}"""


def violations(page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    return page.evaluate(RUN_AXE, DJANGO_OWN)


def pages(data) -> dict[str, str]:
    pending = data.mirrored(data.pending[0])
    progress = data.mirrored(data.in_progress)
    node = progress.nodes.order_by("position").last()
    attempt = CancelAttempt.objects.create(
        cancel_type=CancelType.TASK,
        target_id=pending.key_id,
        task=pending,
        task_key_id=pending.key_id,
        outcome=Outcome.REFUSED,
        response_code=-18,
        response_message="port program unusual",
        username="agent",
        reason="ticket 4711",
    )
    # A node's cancel: its target cell is "node key (#task key)" with the task as a link.
    CancelAttempt.objects.create(
        cancel_type=CancelType.NODE,
        target_id=node.key_id,
        task=progress,
        task_key_id=progress.key_id,
        node=node,
        outcome=Outcome.SUCCEEDED,
        username="agent",
    )
    tasks = "/admin/laaffic_recall/recalltask/"
    return {
        "overview": "/admin/laaffic_recall/",
        "task list": tasks,
        "node list": "/admin/laaffic_recall/recallnode/",
        "task page": f"{tasks}{progress.pk}/change/",
        "cancel task": f"{tasks}{pending.pk}/cancel/",
        "cancel from node": f"{tasks}{progress.pk}/cancel-from-node/{node.pk}/",
        "cancel by parent": f"{tasks}cancel-by-parent/",
        "audit list": "/admin/laaffic_recall/cancelattempt/",
        "audit page": f"/admin/laaffic_recall/cancelattempt/{attempt.pk}/change/",
        "sync runs": "/admin/laaffic_recall/syncrun/",
    }


def test_no_page_of_the_app_has_an_accessibility_violation(page, login, e2e_data, e2e_users, width):
    login(page, "admin")
    found = {}
    for name, url in pages(e2e_data).items():
        response = page.goto(url)
        assert response.status == 200, name
        problems = violations(page)
        if problems:
            found[name] = problems
    assert found == {}, json.dumps(found, indent=1)
