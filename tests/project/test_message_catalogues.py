"""The message catalogues: complete in Simplified Chinese, current with the code, compiled.

A string added to the code without a translation, a fuzzy translation, a catalogue not
regenerated after a change, or a ``.mo`` not recompiled fails here (and so in CI). To
update: ``cd laaffic_recall && django-admin makemessages -l en -l zh_Hans --no-obsolete``
(and the same for the bundled site, see the README), translate, then ``compilemessages``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.utils import translation

from tests.support.catalogue import read_po

pytestmark = pytest.mark.slow  # makemessages runs in fresh interpreters

ROOT = Path(__file__).resolve().parents[2]
APP_LOCALE = ROOT / "laaffic_recall" / "locale"
SITE_LOCALE = ROOT / "project" / "locale"
CATALOGUES = [
    APP_LOCALE / "en" / "LC_MESSAGES" / "django.po",
    APP_LOCALE / "zh_Hans" / "LC_MESSAGES" / "django.po",
    SITE_LOCALE / "zh_Hans" / "LC_MESSAGES" / "django.po",
]
CHINESE = [path for path in CATALOGUES if "zh_Hans" in path.parts]


def keys(path: Path) -> set[tuple[str, str, str]]:
    return {entry.key for entry in read_po(path) if not entry.obsolete}


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    """The catalogues made again by makemessages from a copy of the code."""
    copy = tmp_path_factory.mktemp("messages")
    for name in ["laaffic_recall", "project", "templates"]:
        shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(copy), "DJANGO_SETTINGS_MODULE": "project.settings"}
    env.pop("DATABASE_URL", None)
    admin = [sys.executable, "-m", "django", "makemessages", "--no-obsolete"]
    subprocess.run(
        [*admin, "-l", "en", "-l", "zh_Hans"],
        cwd=copy / "laaffic_recall",
        env=env,
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [*admin, "-l", "zh_Hans", "--ignore", "laaffic_recall/*"],
        cwd=copy,
        env=env,
        check=True,
        capture_output=True,
    )
    return copy


@pytest.mark.parametrize("path", CATALOGUES, ids=lambda p: str(p.relative_to(ROOT)))
def test_each_catalogue_holds_exactly_the_strings_of_the_code(path, regenerated):
    fresh = regenerated / path.relative_to(ROOT)
    missing = keys(fresh) - keys(path)
    gone = keys(path) - keys(fresh)
    assert not missing, f"strings not in {path.name}; run makemessages: {sorted(missing)[:5]}"
    assert not gone, f"strings no longer in the code; run makemessages: {sorted(gone)[:5]}"


@pytest.mark.parametrize("path", CHINESE, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_chinese_string_is_translated_and_none_is_fuzzy(path):
    entries = read_po(path)
    assert len(entries) > 5
    untranslated = [e.key[1] for e in entries if not all(e.translations)]
    fuzzy = [e.key[1] for e in entries if "fuzzy" in e.flags]
    assert not untranslated, f"untranslated: {untranslated[:5]}"
    assert not fuzzy, f"fuzzy: {fuzzy[:5]}"


@pytest.mark.parametrize("path", CATALOGUES, ids=lambda p: str(p.relative_to(ROOT)))
def test_each_compiled_catalogue_is_current_and_its_placeholders_match(path, tmp_path):
    compiled = tmp_path / "django.mo"
    # --check: every %(name)s of a python-format message is kept in its translation.
    subprocess.run(["msgfmt", "--check", "-o", compiled, path], check=True, capture_output=True)
    assert compiled.read_bytes() == path.with_suffix(".mo").read_bytes(), (
        f"{path.with_suffix('.mo').relative_to(ROOT)} is stale: run compilemessages"
    )


def test_the_app_speaks_chinese_when_asked():
    with translation.override("zh-hans"):
        assert translation.gettext("Cancel from here") == "从此处取消"
        assert translation.gettext("LAAFFIC auto-recall admin") == "LAAFFIC 自动重呼管理"
        assert translation.gettext("Yes") == "是"
