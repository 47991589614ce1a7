"""Typed settings, and a configuration error that no broad catch of vendor errors swallows."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from laaffic_recall.cancel.service import look_up_parent
from laaffic_recall.client.errors import ConfigurationError, LaafficError
from laaffic_recall.conf import DictSetting, app_settings, get_client
from tests.support.checks import checks_without_database

SETTINGS = {
    "API_KEY": "test-key",
    "API_SECRET": "test-secret-do-not-leak",
    "BASE_URL": "https://laaffic.test",
    "AUDIT_CHAIN_KEY": "test-audit-chain-key",
}


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("READ_RETRIES", "3", 3),
        ("READ_RETRIES", 3.0, 3),
        ("READ_TIMEOUT", "7.5", 7.5),
        ("READ_TIMEOUT", 7, 7.0),
        ("SYNC_WINDOW_HOURS", 12, 12.0),
        ("STALE_ATTEMPT_SECONDS", " 60 ", 60),
    ],
)
def test_numbers_come_as_the_type_of_their_default(settings, key, value, expected):
    settings.LAAFFIC_RECALL = {**SETTINGS, key: value}
    read = getattr(app_settings, key)
    assert read == expected and type(read) is type(expected)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("READ_RETRIES", "two"),
        ("READ_RETRIES", 2.5),
        ("READ_RETRIES", True),
        ("READ_RETRIES", None),
        ("CANCEL_WORKERS", [4]),
        ("READ_TIMEOUT", "soon"),
        ("READ_TIMEOUT", float("nan")),
        ("MAX_CANCEL_BATCH", float("inf")),
    ],
)
def test_a_value_that_does_not_convert_names_its_key(settings, key, value):
    settings.LAAFFIC_RECALL = {**SETTINGS, key: value}
    with pytest.raises(ImproperlyConfigured) as caught:
        getattr(app_settings, key)
    assert f"LAAFFIC_RECALL[{key!r}]" in str(caught.value)
    assert repr(value) in str(caught.value)


def test_a_value_of_the_wrong_type_is_a_system_check_warning(settings):
    settings.LAAFFIC_RECALL = {**SETTINGS, "CANCEL_WORKERS": "four"}
    (warning,) = checks_without_database("laaffic_recall.")
    assert warning.id == "laaffic_recall.W006"
    assert "CANCEL_WORKERS" in warning.msg and "CANCEL_WORKERS" in warning.hint


def test_a_nullable_key_may_be_none_and_others_may_not(settings):
    settings.EXAMPLE_SETTING = {"SKEW": None, "COUNT": None}
    setting = DictSetting("EXAMPLE_SETTING", {"SKEW": 300, "COUNT": 1}, nullable={"SKEW"})
    assert setting.SKEW is None
    with pytest.raises(ImproperlyConfigured):
        setting.COUNT  # noqa: B018


def test_text_settings_are_left_to_the_system_checks(settings):
    settings.LAAFFIC_RECALL = {**SETTINGS, "PRODUCT": 7}
    assert app_settings.PRODUCT == 7
    ids = {m.id for m in checks_without_database("laaffic_recall.")}
    assert ids == {"laaffic_recall.W003"}


def test_a_configuration_error_is_improperly_configured_and_no_vendor_error():
    assert issubclass(ConfigurationError, ImproperlyConfigured)
    assert not issubclass(ConfigurationError, LaafficError)


def test_get_client_fails_fast_with_the_same_words_and_hints_as_the_checks(settings):
    settings.LAAFFIC_RECALL = {"API_KEY": "", "API_SECRET": "s", "PRODUCT": "sms"}
    checks = {m.id: m for m in checks_without_database("laaffic_recall.")}

    with pytest.raises(ConfigurationError) as caught:
        get_client()

    for check_id in ("laaffic_recall.W001", "laaffic_recall.W003"):
        assert checks[check_id].msg in str(caught.value)
        assert checks[check_id].hint in str(caught.value)


def test_a_parent_lookup_without_credentials_is_an_answer_not_an_exception(settings):
    settings.LAAFFIC_RECALL = {**SETTINGS, "API_SECRET": ""}
    lookup = look_up_parent(2024051800012)
    assert lookup.tasks == ()
    assert "API secret is not set" in lookup.error
