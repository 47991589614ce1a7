"""Shared fixtures: LAAFFIC settings for tests, a ``responses`` mock of the API, the fake
LAAFFIC on top of it, admin clients logged in as the app's roles, and the audit chain key
for the tests that need a chain.

The helpers behind them live in ``tests/support/``; test modules import those from there,
never from this module.
"""

from __future__ import annotations

import os

import pytest
import responses as responses_lib
from django.contrib import admin
from django.db import connection
from django.test import override_settings
from django.utils import translation

from laaffic_recall.guards import flushes_past_guards
from laaffic_recall.models import RecallTask
from tests.support.admin import AGENT_PERMISSIONS, VIEW_ALL, logged_in
from tests.support.audit import CHAIN_KEY
from tests.support.fake_laaffic import FakeLaaffic
from tests.support.vendor import TEST_SETTINGS

# --------------------------------------------------------------------------- PostgreSQL
# A ``postgres``-marked test needs PostgreSQL's concurrent writers and row locks: elsewhere
# it skips. With LAAFFIC_POSTGRES_REQUIRED=1 (CI's PostgreSQL run) the session stops unless
# the database is PostgreSQL, and a ``postgres``-marked test that skips fails instead: the
# concurrency tests can never be skipped away unnoticed.

POSTGRES_REQUIRED = "LAAFFIC_POSTGRES_REQUIRED"


def _postgres_required() -> bool:
    return os.environ.get(POSTGRES_REQUIRED) == "1"


def pytest_sessionstart(session):
    if _postgres_required() and connection.vendor != "postgresql":
        pytest.exit(
            f"{POSTGRES_REQUIRED}=1 but the tests run on {connection.vendor}: set "
            "DATABASE_URL to a PostgreSQL database (postgres://...).",
            returncode=1,
        )


def pytest_collection_modifyitems(config, items):
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(
        reason=f"needs PostgreSQL (concurrent writers, row locks); the tests run on "
        f"{connection.vendor}"
    )
    for item in items:
        if item.get_closest_marker("postgres"):
            item.add_marker(skip)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.skipped and _postgres_required() and item.get_closest_marker("postgres"):
        report.outcome = "failed"
        report.longrepr = f"skipped although {POSTGRES_REQUIRED}=1: {report.longrepr}"
    return report


# --------------------------------------------------------------------------- settings


@pytest.fixture(scope="session", autouse=True)
def fast_password_hasher():
    """Passwords hashed with MD5 in tests: the default hasher's deliberate slowness would
    cost most of a second per user made with a password."""
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(scope="session", autouse=True)
def flush_past_the_audit_guards():
    """A transactional test's flush empties the append-only audit log as its owner would."""
    with flushes_past_guards():
        yield


@pytest.fixture(autouse=True)
def default_language_after_each_test():
    """A request in another language (LocaleMiddleware) leaves it active in this thread;
    the next test starts in the site's default language again."""
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def laaffic_settings(settings):
    """Every test talks to a fake LAAFFIC at https://laaffic.test unless it says otherwise."""
    settings.LAAFFIC_RECALL = dict(TEST_SETTINGS)
    return settings.LAAFFIC_RECALL


@pytest.fixture
def audit_chain_key(settings, laaffic_settings) -> str:
    """An audit chain key: finished cancel attempts are chained (in the other tests they
    stay unchained, as on a site without a key)."""
    settings.LAAFFIC_RECALL = {**settings.LAAFFIC_RECALL, "AUDIT_CHAIN_KEY": CHAIN_KEY}
    return CHAIN_KEY


@pytest.fixture
def mocked_api():
    """A strict ``responses`` mock: any unmatched request fails the test."""
    with responses_lib.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def fake(mocked_api):
    """LAAFFIC's ``queryPage`` and ``queryDetail`` served from tasks held in memory."""
    return FakeLaaffic(mocked_api)


# --------------------------------------------------------------------------- admin users
# Each logs the test client in (the same ``client``: use one of these per test).


@pytest.fixture
def team_admin(monkeypatch):
    """A host admin that shows each agent only the tasks named after their team ("agent"
    sees "Team A ..." tasks), as a host narrowing ``get_queryset`` would."""
    task_admin = admin.site._registry[RecallTask]
    original = type(task_admin).get_queryset

    def get_queryset(self, request):
        return original(self, request).filter(task_name__startswith="Team A")

    monkeypatch.setattr(type(task_admin), "get_queryset", get_queryset)
    return task_admin


@pytest.fixture
def agent_client(client):
    """The cancel agent: every page of the app, and the permission to cancel."""
    return logged_in(client, "agent", *AGENT_PERMISSIONS)


@pytest.fixture
def agent_client_without_node_view(client):
    """A cancel agent who may view tasks and the audit log, but not the node list."""
    return logged_in(client, "agent", "view_recalltask", "view_cancelattempt", "cancel_recalltask")


@pytest.fixture
def viewer_client(client):
    """Read-only support staff: every page of the app, no permission to cancel."""
    return logged_in(client, "viewer", *VIEW_ALL)


@pytest.fixture
def mirror_viewer_client(client):
    """Read-only support staff who see the mirror (tasks and nodes), not the audit log."""
    return logged_in(client, "viewer", "view_recalltask", "view_recallnode")


@pytest.fixture
def auditor_client(client):
    """An auditor: the audit log only."""
    return logged_in(client, "auditor", "view_cancelattempt")
