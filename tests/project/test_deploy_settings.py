"""The bundled site is deployable from its environment alone: the HTTPS settings that
``check --deploy`` asks for are read from environment variables, and with them set the
check reports nothing, without editing ``settings.py``."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

HTTPS = {
    "SECURE_SSL_REDIRECT": "True",
    "SESSION_COOKIE_SECURE": "True",
    "CSRF_COOKIE_SECURE": "True",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "True",
    "SECURE_HSTS_PRELOAD": "True",
    "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
    "CSRF_TRUSTED_ORIGINS": "https://recall.example.com",
}


def deploy_check(tmp_path, **extra: str) -> subprocess.CompletedProcess:
    """``manage.py check --deploy --fail-level WARNING`` in a fresh process, configured by
    environment variables only (a production-like site on the real API)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SECURE_", "SESSION_", "CSRF_", "LAAFFIC_", "DJANGO_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="project.settings",
        DEBUG="False",
        SECRET_KEY=secrets.token_urlsafe(60),
        ALLOWED_HOSTS="recall.example.com",
        DATABASE_URL=f"sqlite:///{tmp_path / 'deploy.sqlite3'}",
        LAAFFIC_API_KEY="a-real-looking-key",
        LAAFFIC_API_SECRET=secrets.token_urlsafe(32),
        LAAFFIC_AUDIT_CHAIN_KEY=secrets.token_urlsafe(40),
        **extra,
    )
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_the_https_environment(tmp_path):
    result = deploy_check(tmp_path, **HTTPS)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("variable", "warning"),
    [
        ("SECURE_SSL_REDIRECT", "security.W008"),
        ("SESSION_COOKIE_SECURE", "security.W012"),
        ("CSRF_COOKIE_SECURE", "security.W016"),
        ("SECURE_HSTS_SECONDS", "security.W004"),
    ],
)
def test_each_https_variable_is_read(tmp_path, variable, warning):
    result = deploy_check(tmp_path, **{k: v for k, v in HTTPS.items() if k != variable})

    assert result.returncode != 0
    assert warning in result.stderr + result.stdout
