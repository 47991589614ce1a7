"""Shared fixtures: LAAFFIC settings for tests and a ``responses`` mock of the API."""

from __future__ import annotations

import pytest
import responses as responses_lib

TEST_SETTINGS = {
    "API_KEY": "test-key",
    "API_SECRET": "test-secret-do-not-leak",
    "BASE_URL": "https://laaffic.test",
    "PRODUCT": "ai_agent",
    "READ_RETRIES": 2,
    "RETRY_BACKOFF": 0,
    "CONNECT_TIMEOUT": 2.0,
    "READ_TIMEOUT": 5.0,
}


@pytest.fixture(autouse=True)
def laaffic_settings(settings):
    """Every test talks to a fake LAAFFIC at https://laaffic.test unless it says otherwise."""
    settings.LAAFFIC_RECALL = dict(TEST_SETTINGS)
    return settings.LAAFFIC_RECALL


@pytest.fixture
def mocked_api():
    """A strict ``responses`` mock: any unmatched request fails the test."""
    with responses_lib.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def api_url(call: str, product: str = "ai_agent") -> str:
    prefix = "/voice/recallFlow" if product == "ai_agent" else "/v3/voice/recallFlow"
    return f"{TEST_SETTINGS['BASE_URL']}{prefix}/{call}"
