"""Shared fixtures: LAAFFIC settings for tests and a ``responses`` mock of the API.

The helpers behind them live in ``tests/support/``; test modules import those from there,
never from this module.
"""

from __future__ import annotations

import pytest
import responses as responses_lib

from tests.support.vendor import TEST_SETTINGS


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
