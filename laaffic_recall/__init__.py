"""Mirror LAAFFIC auto-recall tasks into Django and cancel them from the admin."""

__version__ = "0.1.0"
