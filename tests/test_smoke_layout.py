from django.core.checks import run_checks


def test_checks_warn_about_missing_credentials(settings):
    settings.LAAFFIC_RECALL = {}
    ids = {m.id for m in run_checks()}
    assert {"laaffic_recall.W001", "laaffic_recall.W002"} <= ids
