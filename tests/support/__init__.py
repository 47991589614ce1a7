"""What the test modules share: fakes of LAAFFIC, rows of the app, admin users and URLs.

No tests live here, and nothing here imports a test module; fixtures live in
``tests/conftest.py``, recorded LAAFFIC payloads (JSON) in ``tests/fixtures/``.
"""
