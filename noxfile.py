"""The support matrix, one nox session per (Python, Django) pair.

    nox                       every session (the whole matrix)
    nox -l                    list them
    nox -s "tests(python='3.13', django='6.1')"   one pair;   nox -t ci   the CI subset
    nox -t ci -- -m "not e2e"                     what .ci/run runs (pytest arguments after --)

Each ``tests`` session installs requirements.txt with Django overridden to the pair's series
and runs the whole suite, browser tests included. ``coverage`` runs Django 6.0 on SQLite with
branch coverage, failing below the floor in pyproject.toml. ``tests_postgres`` runs the
newest pair on PostgreSQL (``DATABASE_URL`` from the environment, else a throwaway cluster).
``host`` runs ``scripts/check-host-project`` once per Django series. ``docs`` builds the docs
site as CI does (``nox -s docs -- --open`` opens it in a browser); ``screens`` runs the
browser tests whose screenshots the docs show and copies them into docs/_static/screens/.

nox (rather than tox): sessions are plain Python, so the pairs, the Django override and
the throwaway PostgreSQL are a few lines here, and its uv backend builds a session's venv
in about a second. The interpreters are pyenv's builds under ``~/.pyenv/versions/`` (or
``python3.X`` on PATH).
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv"
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
# Django 6 needs Python 3.12 or later.
PAIRS = [
    ("3.11", "5.2"),
    ("3.12", "5.2"),
    ("3.12", "6.0"),
    ("3.12", "6.1"),
    ("3.13", "5.2"),
    ("3.13", "6.0"),
    ("3.13", "6.1"),
]
NEWEST = PAIRS[-1]
# What .ci/run runs (``nox -t ci``) besides the README's command (3.11, 5.2, SQLite): 6.0 on
# SQLite with coverage, and the newest pair on PostgreSQL. Every supported Django series
# and both databases run.
COVERAGE_PAIR = ("3.12", "6.0")
DJANGO_SERIES = sorted({django for _python, django in PAIRS})


def _use_pyenv_builds() -> None:
    """Put each pyenv build's bin/ on PATH, so ``python3.12`` and ``python3.13`` are found
    (pyenv's shims only run the versions made global) and uv never downloads one."""
    builds = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[1-9].*/bin")))
    os.environ["PATH"] = os.pathsep.join([*reversed(builds), os.environ.get("PATH", "")])
    os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")


_use_pyenv_builds()


def install(session: nox.Session, django: str) -> None:
    """requirements.txt, with Django replaced by the newest release of ``django``."""
    override = Path(session.create_tmp()) / "django-override.txt"
    override.write_text(f"django=={django}.*\n")
    session.install("-r", str(ROOT / "requirements.txt"), "--override", str(override))
    version = session.run("python", "-c", "import django; print(django.get_version())", silent=True)
    if not version.strip().startswith(django):
        session.error(f"Django {version.strip()} installed instead of {django}")


def pytest(session: nox.Session, *args: str, **env: str | None) -> None:
    session.run(
        "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, *session.posargs, env=env
    )


@nox.session
@nox.parametrize(("python", "django"), PAIRS)
def tests(session: nox.Session, django: str) -> None:
    """The whole suite, browser tests included, on SQLite."""
    install(session, django)
    pytest(session, DATABASE_URL=None)


@nox.session(python=COVERAGE_PAIR[0], tags=["ci"])
def coverage(session: nox.Session) -> None:
    """The suite on SQLite with branch coverage of the app; below the floor it fails."""
    install(session, COVERAGE_PAIR[1])
    pytest(session, "--cov", "--cov-report=term", DATABASE_URL=None)


@nox.session(python=NEWEST[0], tags=["ci"])
def tests_postgres(session: nox.Session) -> None:
    """The newest pair on PostgreSQL; every PostgreSQL-only test must run, not skip."""
    install(session, NEWEST[1])
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        pytest(session, LAAFFIC_POSTGRES_REQUIRED="1")
        return
    directory = tempfile.mkdtemp(prefix="laaffic-nox-pg.")
    port = os.environ.get("LAAFFIC_NOX_PG_PORT", "54330")
    url = session.run(
        str(ROOT / "scripts/throwaway-postgres"),
        "start",
        directory,
        port,
        silent=True,
        external=True,
    ).strip()
    try:
        pytest(session, DATABASE_URL=url, LAAFFIC_POSTGRES_REQUIRED="1")
    finally:
        session.run(str(ROOT / "scripts/throwaway-postgres"), "stop", directory, external=True)
        shutil.rmtree(directory, ignore_errors=True)


@nox.session(python=False, tags=["ci"])
@nox.parametrize("django", DJANGO_SERIES)
def host(session: nox.Session, django: str) -> None:
    """A fresh host project on this Django series embeds the app (scripts/check-host-project)."""
    python = "python3.11" if django.startswith("5.") else f"python{NEWEST[0]}"
    session.run(str(ROOT / "scripts/check-host-project"), django, python, external=True)


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """The docs site into docs/_build/html: warnings are errors, every reference must
    resolve (``-W -n``), offline. ``-- --open`` opens it in a browser."""
    session.install("-r", str(ROOT / "requirements.txt"), "-r", str(ROOT / "docs/requirements.txt"))
    output = ROOT / "docs/_build/html"
    session.run(
        "sphinx-build",
        "-W",
        "-n",
        "--keep-going",
        "-q",
        "-b",
        "html",
        "-d",
        str(ROOT / "docs/_build/doctrees"),
        str(ROOT / "docs"),
        str(output),
        env={"DATABASE_URL": None},
    )
    session.log(f"Built: {output / 'index.html'}")
    if "--open" in session.posargs:
        session.run("python", "-m", "webbrowser", "-t", (output / "index.html").as_uri())


@nox.session(python=False)
def screens(session: nox.Session) -> None:
    """The browser tests that take the docs' screenshots, then their copies in
    docs/_static/screens/ (scripts/docs-screens), with the project's .venv."""
    python = ROOT / ".venv/bin/python"
    session.run(str(python), str(ROOT / "scripts/docs-screens"), "--run", external=True)
