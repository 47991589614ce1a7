"""Let time pass in the LAAFFIC sandbox: tasks advance node by node."""

import random
import time

from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ....management.base import TranslatedCommand
from ...models import Status
from ...seed import seed
from ...state import tick


class Command(TranslatedCommand):
    help = gettext_lazy(
        "Advance sandbox tasks one step each: a pending round starts, a running round "
        "completes; a task is done when no round is left to run."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--fraction",
            type=float,
            default=1.0,
            help=_("Share of the unfinished tasks to advance each tick (0..1, default 1)."),
        )
        parser.add_argument("--steps", type=int, default=1, help=_("Ticks to run (default 1)."))
        parser.add_argument(
            "--new", type=int, default=0, help=_("Also create N new Pending tasks each tick.")
        )
        parser.add_argument("--seed", type=int, default=None, help=_("Random seed (repeatable)."))
        parser.add_argument(
            "--every",
            type=float,
            default=0,
            help=_("Seconds between ticks; with --steps 0, tick until interrupted."),
        )

    def handle(self, *args, fraction, steps, new, every, **options):
        if not 0 <= fraction <= 1:
            raise CommandError(_("--fraction must be between 0 and 1."))
        if steps < 0 or new < 0 or every < 0 or (steps == 0 and every <= 0):
            raise CommandError(_("Use --steps N (1 or more), or --steps 0 with --every SECONDS."))
        rng = random.Random(options["seed"])
        done = 0
        try:
            while steps == 0 or done < steps:
                if done and every:
                    time.sleep(every)
                if new:
                    self._add_pending(new, rng)
                result = tick(fraction, rng)
                done += 1
                self.stdout.write(
                    _("Tick %(n)d: %(advanced)d tasks advanced, %(open)d still open.")
                    % {"n": done, "advanced": result.advanced, "open": result.open_after}
                )
        except KeyboardInterrupt:
            self.stdout.write(_("Stopped."))

    def _add_pending(self, count: int, rng: random.Random) -> None:
        # Fresh tasks created within the last minute, so a long demo keeps Pending ones.
        seed(count, seed=rng.randrange(2**31), days=60 / 86400, status=Status.PENDING)
