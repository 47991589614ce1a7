"""The state read right after a cancel decides its recorded outcome; LAAFFIC's code and
message stay on the audit row verbatim."""

from __future__ import annotations

import pytest

from laaffic_recall.cancel import CancelTarget, service
from laaffic_recall.cancel.audit import Submission
from laaffic_recall.models import CancelAttempt, Outcome, RecallNode, RecallTask
from laaffic_recall.verify import verify_chain
from tests.support.mirror import make_nodes, make_task
from tests.support.vendor import CANCELLED, PENDING, add_cancel, add_detail, envelope

pytestmark = pytest.mark.django_db

ACCEPTED = {"json": envelope(None)}
REFUSED_18 = {"json": {"code": -18, "msg": "port program unusual"}}
PROXY_502 = {"body": "<html><h1>502 Bad Gateway</h1></html>", "status": 502}


@pytest.mark.parametrize(
    ("answer", "reread", "outcome", "code", "confirmed", "mirror_confirmed"),
    [
        pytest.param(ACCEPTED, CANCELLED, Outcome.SUCCEEDED, 0, False, True, id="0-cancelled"),
        pytest.param(ACCEPTED, PENDING, Outcome.SUCCEEDED, 0, False, False, id="0-pending"),
        pytest.param(REFUSED_18, CANCELLED, Outcome.SUCCEEDED, -18, True, True, id="-18-cancelled"),
        pytest.param(REFUSED_18, PENDING, Outcome.REFUSED, -18, False, True, id="-18-pending"),
        pytest.param(PROXY_502, CANCELLED, Outcome.SUCCEEDED, None, True, True, id="502-cancelled"),
        pytest.param(PROXY_502, PENDING, Outcome.UNKNOWN, None, False, True, id="502-pending"),
    ],
)
def test_the_reread_decides_the_outcome(
    mocked_api, audit_chain_key, answer, reread, outcome, code, confirmed, mirror_confirmed
):
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12, **answer)
    add_detail(mocked_api, 12, reread)

    report = service.cancel([CancelTarget.for_task(task)], Submission(username="agent"))

    [row] = CancelAttempt.objects.all()
    assert row.outcome == outcome
    assert row.response_code == code
    assert row.confirmed_by_reread is confirmed
    assert row.mirror_confirmed is mirror_confirmed
    if code == -18:
        assert row.response_message == "port program unusual"  # kept verbatim
    result = report.results[0]
    assert result.outcome == outcome
    if outcome == Outcome.SUCCEEDED and code == -18:
        assert "took effect" in row.error_detail
        assert (row.first_outcome, row.settled_by) == (Outcome.REFUSED, "reread")
    # Whatever the re-read decided, the row is linked into the audit chain as it was stored.
    chain = verify_chain(record=False)
    assert chain.ok, chain.problem
    assert chain.links == (0 if outcome == Outcome.UNKNOWN else 1)


def test_a_node_cancel_refused_but_cancelled_on_reread_succeeded(mocked_api):
    task = make_task(12)
    make_nodes(task, PENDING, PENDING)
    node = RecallNode.objects.get(key_id=101)
    add_detail(mocked_api, 12, PENDING, nodes=((101, PENDING), (102, PENDING)))
    add_cancel(mocked_api, 3, 101, **REFUSED_18)
    add_detail(mocked_api, 12, CANCELLED, nodes=((101, CANCELLED), (102, CANCELLED)))

    report = service.cancel([CancelTarget.for_node(node)], Submission(username="agent"))

    [row] = CancelAttempt.objects.all()
    assert (row.outcome, row.response_code) == (Outcome.SUCCEEDED, -18)
    assert report.results[0].ok
    assert RecallTask.objects.get(key_id=12).status == CANCELLED
