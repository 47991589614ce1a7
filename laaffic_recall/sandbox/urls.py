"""Include under a prefix of your choice, e.g. ``path("sandbox/", include(...))``.

Then ``LAAFFIC_RECALL["BASE_URL"]`` is ``http://<host>/sandbox`` for either product family.
"""

from django.urls import path

from . import views

app_name = "laaffic_sandbox"

FAMILIES = {"ai_agent": "voice/recallFlow/", "ivr": "v3/voice/recallFlow/"}
CALLS = ("queryPage", "queryDetail", "cancel")

urlpatterns = [
    path(
        f"{prefix}{call}",
        views.endpoint,
        {"family": family, "call": call},
        name=f"{family}-{call}",
    )
    for family, prefix in FAMILIES.items()
    for call in CALLS
]
