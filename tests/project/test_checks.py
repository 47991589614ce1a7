"""System checks on the LAAFFIC_RECALL setting, and the settings reader."""

import pytest
from django.core.checks import Warning
from django.core.management import call_command

from laaffic_recall import conf
from laaffic_recall.conf import DEFAULTS, app_settings
from tests.support.audit import CHAIN_KEY
from tests.support.checks import checks_without_database
from tests.support.vendor import TEST_SETTINGS

# Every setting the checks look at, the audit chain key included.
COMPLETE = {**TEST_SETTINGS, "AUDIT_CHAIN_KEY": CHAIN_KEY}


def check_ids():
    return {m.id for m in checks_without_database("laaffic_recall.")}


def test_complete_settings_raise_no_warning(settings):
    settings.LAAFFIC_RECALL = COMPLETE
    assert check_ids() == set()


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"API_KEY": ""}, {"laaffic_recall.W001"}),
        ({"API_SECRET": "  "}, {"laaffic_recall.W002"}),
        ({"PRODUCT": "sms"}, {"laaffic_recall.W003"}),
        ({"BASE_URL": "ftp://api.laaffic.com"}, {"laaffic_recall.W004"}),
        ({"BASE_URL": ""}, {"laaffic_recall.W004"}),
        ({"REMOTE_TIMEZONE": "Asia/Shangai"}, {"laaffic_recall.W005"}),
        ({"REMOTE_TIMEZONE": ""}, {"laaffic_recall.W005"}),
        ({"AUDIT_CHAIN_KEY": ""}, {"laaffic_recall.W007"}),
        ({"AUDIT_CHAIN_KEY": "   "}, {"laaffic_recall.W007"}),
    ],
)
def test_each_problem_has_its_own_check(settings, override, expected):
    settings.LAAFFIC_RECALL = {**COMPLETE, **override}
    assert check_ids() == expected


def test_checks_are_warnings_with_hints(settings):
    settings.LAAFFIC_RECALL = {}
    messages = checks_without_database("laaffic_recall.")
    assert {m.id for m in messages} == {
        "laaffic_recall.W001",
        "laaffic_recall.W002",
        "laaffic_recall.W007",
    }
    assert all(isinstance(m, Warning) and m.hint for m in messages)


@pytest.mark.django_db  # since Django 6.1, `manage.py check` asks the database about its features
def test_manage_check_exits_zero_when_unconfigured(settings, capsys):
    settings.LAAFFIC_RECALL = {}
    call_command("check")  # raises SystemCheckError on errors; warnings only print
    assert "laaffic_recall.W001" in capsys.readouterr().err


def test_settings_are_read_at_call_time(settings):
    settings.LAAFFIC_RECALL = {"READ_TIMEOUT": 3}
    assert app_settings.READ_TIMEOUT == 3
    assert DEFAULTS["CONNECT_TIMEOUT"] == app_settings.CONNECT_TIMEOUT
    settings.LAAFFIC_RECALL = {"READ_TIMEOUT": 9}
    assert app_settings.READ_TIMEOUT == 9


def test_unknown_setting_name_is_an_error():
    with pytest.raises(AttributeError):
        app_settings.NO_SUCH_SETTING  # noqa: B018


def test_an_unknown_remote_time_zone_is_a_warning_with_a_hint(settings):
    settings.LAAFFIC_RECALL = {**COMPLETE, "REMOTE_TIMEZONE": "Asia/Shangai"}
    (message,) = checks_without_database("laaffic_recall.W005")
    assert isinstance(message, Warning) and "'Asia/Shangai'" in message.msg
    assert "LAAFFIC_RECALL['REMOTE_TIMEZONE']" in message.hint and "IANA" in message.hint


def test_a_known_remote_time_zone_raises_no_warning(settings):
    settings.LAAFFIC_RECALL = {**COMPLETE, "REMOTE_TIMEZONE": "Asia/Shanghai"}
    assert check_ids() == set()


def test_the_product_paths_live_in_the_client_only():
    assert not hasattr(conf, "PRODUCTS")  # client.PRODUCT_PATHS is the one list


def test_a_missing_chain_key_says_where_to_keep_one(settings):
    settings.LAAFFIC_RECALL = {**COMPLETE, "AUDIT_CHAIN_KEY": ""}
    (message,) = checks_without_database("laaffic_recall.W007")
    assert "unchained" in message.msg
    assert "AUDIT_CHAIN_KEY" in message.hint and "outside the database" in message.hint
