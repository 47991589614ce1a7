"""How long ago a sync or a read was, as the list, the task page and the overview say it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone, translation

from laaffic_recall.templatetags.laaffic_recall import ago


@pytest.mark.parametrize(
    ("seconds", "english", "chinese"),
    [
        (0, "less than a minute ago", "不到一分钟前"),
        (45, "less than a minute ago", "不到一分钟前"),
        (-30, "less than a minute ago", "不到一分钟前"),  # a clock running ahead
        (13 * 60 + 5, "13\xa0minutes ago", "13\xa0分钟前"),
        (2 * 3600 + 60, "2\xa0hours, 1\xa0minute ago", "2\xa0小时，1\xa0分钟前"),
    ],
)
def test_ago_never_says_zero_minutes(seconds, english, chinese):
    when = timezone.now() - timedelta(seconds=seconds)
    with translation.override("en"):
        assert ago(when) == english
    with translation.override("zh-hans"):
        assert ago(when) == chinese


def test_ago_of_nothing_is_empty():
    assert ago(None) == ""
