"""Fill the LAAFFIC sandbox with a realistic mix of recall tasks."""

from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ....management.base import TranslatedCommand
from ...models import Status
from ...seed import seed


class Command(TranslatedCommand):
    help = gettext_lazy(
        "Seed the LAAFFIC sandbox with recall tasks over the past days (1-6 nodes each)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tasks", type=int, default=300, help=_("How many tasks to add."))
        parser.add_argument("--seed", type=int, default=None, help=_("Random seed (repeatable)."))
        parser.add_argument("--days", type=int, default=7, help=_("Spread creation over N days."))
        parser.add_argument(
            "--reset",
            action="store_true",
            help=_("Empty the sandbox first (tasks, nodes, faults, call log)."),
        )

    def handle(self, *args, tasks, days, reset, **options):
        seed_value = options["seed"]
        if tasks < 0 or days < 1:
            raise CommandError(_("--tasks must be 0 or more and --days 1 or more."))
        result = seed(tasks, seed=seed_value, days=days, clear=reset)
        counts = ", ".join(
            f"{Status(status).label}: {count}" for status, count in sorted(result.by_status.items())
        )
        self.stdout.write(
            _("Sandbox seeded: %(tasks)d tasks, %(nodes)d nodes (%(counts)s).")
            % {"tasks": result.tasks, "nodes": result.nodes, "counts": counts or "-"}
        )
