"""``manage.py laaffic_sync``: window options, progress, summary, exit status."""

from __future__ import annotations

from datetime import datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from laaffic_recall.models import RecallTask
from tests.support.vendor import TEST_SETTINGS

pytestmark = pytest.mark.django_db

FORMAT = "%Y-%m-%d %H:%M:%S"


class Run:
    """One run of the command with its stdout and stderr kept (also when it fails)."""

    def __init__(self, *args: str, **options):
        self.out, self.err = StringIO(), StringIO()
        call_command("laaffic_sync", *args, stdout=self.out, stderr=self.err, **options)

    @property
    def stdout(self) -> str:
        return self.out.getvalue()

    @property
    def stderr(self) -> str:
        return self.err.getvalue()


def run_failing(*args: str) -> tuple[CommandError, StringIO, StringIO]:
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("laaffic_sync", *args, stdout=out, stderr=err)
    return caught.value, out, err


def windows(fake) -> list[tuple[str, str]]:
    return [(b["params"]["strTime"], b["params"]["endTime"]) for b in fake.bodies("queryPage")]


def test_by_default_the_last_seven_days_are_synced(fake):
    now = timezone.now().replace(tzinfo=None)
    fake.add_task(1, created=now - timedelta(days=2))
    fake.add_task(2, created=now - timedelta(days=10))

    run = Run()

    asked = windows(fake)
    assert len(asked) == 7
    span = datetime.strptime(asked[-1][1], FORMAT) - datetime.strptime(asked[0][0], FORMAT)
    assert span == timedelta(days=7, seconds=-1)
    assert list(RecallTask.objects.values_list("key_id", flat=True)) == [1]
    assert "Tasks: 1 seen, 1 created, 0 updated." in run.stdout
    assert "Nodes: 3 created, 0 updated, 0 removed." in run.stdout
    assert "Sync complete." in run.stdout


def test_since_until_and_task_name_shape_the_queries(fake):
    Run("--since", "2024-05-18", "--until", "2024-05-19 12:00", "--task-name", "renewals")

    assert windows(fake) == [
        ("2024-05-18 00:00:00", "2024-05-18 23:59:59"),
        ("2024-05-19 00:00:00", "2024-05-19 11:59:59"),
    ]
    assert {b["params"]["taskName"] for b in fake.bodies("queryPage")} == {"renewals"}


def test_times_with_an_offset_are_converted_to_the_remote_zone(fake, laaffic_settings):
    laaffic_settings["REMOTE_TIMEZONE"] = "America/New_York"

    Run("--since", "2024-05-18T08:00:00+08:00", "--until", "2024-05-18T12:00:00+00:00")

    assert windows(fake) == [("2024-05-17 20:00:00", "2024-05-18 07:59:59")]


def test_days_sets_the_window_length(fake):
    Run("--days", "2", "--until", "2024-05-20")

    assert windows(fake) == [
        ("2024-05-18 00:00:00", "2024-05-18 23:59:59"),
        ("2024-05-19 00:00:00", "2024-05-19 23:59:59"),
    ]


def test_key_ids_alone_reread_only_those_tasks(fake):
    fake.add_task(7, status=2)
    fake.add_task(8, status=2)
    fake.add_task(9, status=2)

    run = Run("--key-id", "7", "8", "--workers", "1")

    assert fake.bodies("queryPage") == []
    assert fake.detail_keys() == [7, 8]
    assert "Tasks: 2 seen, 2 created, 0 updated." in run.stdout


def test_key_ids_with_a_window_are_read_besides_it(fake):
    fake.add_task(7, status=2, created="2020-01-01 00:00:00")

    Run("--since", "2024-05-18", "--until", "2024-05-19", "--key-id", "7")

    assert len(fake.bodies("queryPage")) == 1
    assert fake.detail_keys() == [7]


def test_progress_goes_to_stderr_and_verbosity_0_is_quiet(fake):
    fake.add_tasks(250, start=datetime(2024, 5, 18, 8), step=timedelta(seconds=20))

    loud = Run("--since", "2024-05-18", "--until", "2024-05-19")
    assert "windows 1/1, pages 3/3, details 250/250" in loud.stderr
    assert "pages 1/3" in loud.stderr
    assert "Tasks:" not in loud.stderr and "Tasks: 250 seen" in loud.stdout

    quiet = Run("--since", "2024-05-18", "--until", "2024-05-19", verbosity=0)
    assert quiet.stderr == "" and quiet.stdout == ""


def test_failures_exit_non_zero_with_each_failure_on_its_own_line(fake):
    for key in (1, 2, 3):
        fake.add_task(key, created=f"2024-05-18 0{key}:00:00")
    fake.fail_detail(2, code=-22, msg="parameter exception")
    fake.break_detail(3, http_status=502)

    error, out, _ = run_failing("--since", "2024-05-18", "--until", "2024-05-19")

    assert error.returncode == 1
    lines = str(error).splitlines()
    assert lines[0] == "The sync finished with 2 failures:"
    assert sorted(line.split(":")[0] for line in lines[1:]) == ["  detail 2", "  detail 3"]
    assert "code -22" in str(error) and "HTTP 502" in str(error)
    assert "Failures: 2." in out.getvalue() and "Sync complete." not in out.getvalue()
    assert RecallTask.objects.get(key_id=1).nodes.count() == 3


def test_missing_credentials_fail_fast_with_the_hint(fake, laaffic_settings):
    laaffic_settings["API_SECRET"] = ""

    error, _, _ = run_failing()

    assert "LAAFFIC_RECALL['API_SECRET']" in str(error)
    assert fake.calls == []


def test_an_unknown_remote_time_zone_fails_fast_with_the_hint(fake, laaffic_settings):
    laaffic_settings["REMOTE_TIMEZONE"] = "Asia/Shangai"
    fake.add_task(1, created=timezone.now().replace(tzinfo=None) - timedelta(days=1))

    error, _, err = run_failing()

    assert "Unknown LAAFFIC remote time zone 'Asia/Shangai'" in str(error)
    assert "LAAFFIC_RECALL['REMOTE_TIMEZONE']" in str(error)
    assert "Traceback" not in err.getvalue()
    assert fake.calls == [] and RecallTask.objects.count() == 0


def test_a_refused_signature_fails_fast_with_the_hint_and_no_secret(fake, laaffic_settings):
    laaffic_settings["API_SECRET"] = "wrong-secret-value"

    error, out, err = run_failing("--days", "3")

    assert "code -1" in str(error) and "check the API key and secret" in str(error)
    assert len(fake.calls) == 1
    for text in (str(error), out.getvalue(), err.getvalue()):
        assert "wrong-secret-value" not in text and TEST_SETTINGS["API_SECRET"] not in text


@pytest.mark.parametrize(
    "args",
    [
        ["--since", "last tuesday"],
        ["--since", "2024-05-19", "--until", "2024-05-18"],
        ["--since", "2024-05-18", "--days", "2"],
        ["--days", "0"],
        ["--workers", "0"],
        ["--key-id", "-4"],
        ["--key-id", "abc"],
    ],
)
def test_bad_options_are_refused_without_a_call(fake, args):
    run_failing(*args)
    assert fake.calls == []
