"""Signals a host project (and the app itself) can listen to.

- ``task_synced(sender=RecallTask, task=RecallTask)``: a task's detail and node list were
  just written from LAAFFIC (by a sync, a refresh, or a cancel's re-read).
- ``cancel_attempted(sender=CancelAttempt, attempt=CancelAttempt)``: an attempt finished
  (succeeded, refused, failed, unknown or skipped), e.g. to notify a chat or ticket system.
"""

from django.dispatch import Signal

task_synced = Signal()
cancel_attempted = Signal()
