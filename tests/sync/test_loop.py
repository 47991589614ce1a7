"""``laaffic_sync --every``: one sync per period, failures recorded, a clean stop on a
signal, a fatal error ending the loop, and never two syncs at once."""

from __future__ import annotations

import os
import signal
import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from laaffic_recall.models import SyncLock, SyncRun, SyncTrigger

pytestmark = pytest.mark.django_db


def add_recent(fake, *keys: int) -> None:
    now = timezone.now().replace(tzinfo=None)
    for key in keys:
        fake.add_task(key, created=now - timedelta(hours=key), status=1)


def loop(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("laaffic_sync", "--days", "1", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def on_page(fake, actions: dict[int, callable]) -> list[int]:
    """Call ``actions[n]`` when the n-th queryPage arrives (one page per run here)."""
    seen = []

    def hook(body, data):
        seen.append(len(seen) + 1)
        if action := actions.get(len(seen)):
            action()
        return data

    fake.page_hook = hook
    return seen


def terminate() -> None:
    os.kill(os.getpid(), signal.SIGTERM)


def test_the_loop_runs_each_period_records_a_failed_run_goes_on_and_stops_on_sigterm(fake):
    add_recent(fake, 1, 2)
    before = signal.getsignal(signal.SIGTERM)
    pages = on_page(
        fake,
        {
            2: lambda: fake.fail_detail(2),
            3: lambda: (fake.detail_faults.clear(), terminate()),
        },
    )

    out, err = loop("--every", "0.01")

    assert pages == [1, 2, 3]  # the signal came during run 3: it finished, no 4th began
    runs = list(SyncRun.objects.order_by("started_at"))
    assert [r.trigger for r in runs] == [SyncTrigger.SCHEDULE] * 3
    assert [r.failure_count for r in runs] == [0, 1, 0]
    assert all(r.finished_at for r in runs)
    assert "detail 2: " in runs[1].failures
    assert "The sync finished with 1 failure:" in err
    assert "Stopping after the current run (signal SIGTERM)." in err
    assert err.rstrip().endswith("Sync loop stopped.")
    assert out.count("Tasks: 2 seen") == 3
    # Each run says when the next one is due: a period after it began, or, as here where
    # the period is shorter than a run, as soon as it ended.
    for run in runs:
        assert run.next_due_at is not None and run.next_due_at >= run.finished_at
    assert not SyncLock.objects.exists()  # released after each run
    assert signal.getsignal(signal.SIGTERM) is before


def test_the_first_run_of_a_loop_says_when_the_next_is_due_while_it_runs(fake):
    add_recent(fake, 1)
    seen = []

    def look():
        seen.append(SyncRun.objects.values_list("finished_at", "next_due_at").get())
        terminate()

    on_page(fake, {1: look})
    called = timezone.now()
    loop("--every", "60")
    [(finished, due)] = seen
    assert finished is None and due is not None
    # One period after the loop began the run: after the loop was called, no later than
    # the run's row was written (just after), however slow the machine is in between.
    period = timedelta(seconds=60)
    assert called + period <= due <= SyncRun.objects.get().started_at + period


def test_sigint_stops_the_loop_after_the_current_run_too(fake):
    add_recent(fake, 1)
    pages = on_page(fake, {1: lambda: os.kill(os.getpid(), signal.SIGINT)})
    _out, err = loop("--every", "30")
    assert pages == [1]
    assert SyncRun.objects.get().ok
    assert "(signal SIGINT)" in err


@pytest.mark.parametrize(
    ("setting", "value", "words"),
    [("API_SECRET", "", "API_SECRET"), ("API_KEY", "someone-else", "authentication error")],
    ids=["configuration error", "refused signature"],
)
def test_a_configuration_error_or_a_refused_signature_ends_the_loop(
    fake, settings, setting, value, words
):
    add_recent(fake, 1)
    settings.LAAFFIC_RECALL = {**settings.LAAFFIC_RECALL, setting: value}
    with pytest.raises(CommandError, match=words):
        loop("--every", "0.01")
    run = SyncRun.objects.get()  # recorded, then the loop ended
    assert words in run.error
    assert not SyncLock.objects.exists()


def test_every_takes_no_fixed_window():
    with pytest.raises(CommandError, match="no --since or --until"):
        loop("--every", "5", "--until", "2024-05-01")


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "soon"])
def test_every_must_be_a_positive_number_of_seconds(value):
    with pytest.raises(CommandError):
        loop("--every", value)


def test_a_second_scheduler_skips_while_the_lease_is_held_then_takes_it_over(fake):
    """Another scheduler's lease (here ending in a second) is respected: each period is
    skipped, and said so, until the lease ends; then this one syncs."""
    add_recent(fake, 1)
    SyncLock.objects.create(
        name="laaffic_sync",
        holder="other-host:42:abcd",
        expires_at=timezone.now() + timedelta(seconds=1),
    )
    pages = on_page(fake, {1: terminate})

    _out, err = loop("--every", "0.05")

    assert "Another sync is running (other-host:42:abcd, since " in err
    assert "this one is skipped." in err
    assert pages == [1]
    assert SyncRun.objects.count() == 1


def test_a_one_off_sync_while_another_runs_is_skipped_and_says_so(fake):
    add_recent(fake, 1)
    SyncLock.objects.create(
        name="laaffic_sync", holder="cron:7:beef", expires_at=timezone.now() + timedelta(hours=1)
    )
    _out, err = loop()
    assert "Another sync is running (cron:7:beef" in err
    assert fake.bodies("queryPage") == [] and not SyncRun.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_syncs_started_together_never_overlap(fake):
    """Two real threads with their own connections: while the first holds the lock inside
    its sync, the second is skipped; once the first is done, a third may run."""
    add_recent(fake, 1)
    inside, leave = threading.Event(), threading.Event()
    first_page = threading.Lock()
    entered = []

    def hook(body, data):
        with first_page:
            entered.append(threading.current_thread().name)
            first = len(entered) == 1
        if first:
            inside.set()
            leave.wait(30)
        return data

    fake.page_hook = hook
    errors = []

    def first():
        try:
            loop()
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=first, name="first")
    thread.start()
    assert inside.wait(30)
    _out, err = loop()
    leave.set()
    thread.join(30)

    assert errors == []
    assert "this one is skipped." in err
    assert entered == ["first"]
    assert SyncRun.objects.count() == 1
    loop()
    assert SyncRun.objects.count() == 2
