"""The one id rule (``client/wire.py``): a positive key that a signed 64-bit column holds."""

from __future__ import annotations

import pytest

from laaffic_recall.client.wire import MAX_ID, is_valid_id


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        (1, True),
        (MAX_ID, True),
        (2**63 - 1, True),
        (2**63, False),
        (0, False),
        (-1, False),
        (-(2**63), False),
        (True, False),
        ("12", False),
        (12.0, False),
        (None, False),
    ],
)
def test_an_id_is_a_positive_integer_below_two_to_the_63(value, valid):
    assert is_valid_id(value) is valid
