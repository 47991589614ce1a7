"""The docs site states what the code does: the settings reference holds every key of
``conf.DEFAULTS`` with its default and type, the screens it shows are the ones
scripts/docs-screens copies, and the README keeps to the front door."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest

from laaffic_recall import conf
from laaffic_recall.sandbox import conf as sandbox_conf

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SETTINGS_PAGE = DOCS / "developers" / "settings.md"


def settings_table(text: str, name: str) -> dict[str, tuple[str, str]]:
    """``{key: (type, default)}`` from the table after ``<!-- settings-table: name -->``."""
    marker = f"<!-- settings-table: {name} -->"
    assert marker in text, f"no table marked {marker}"
    rows: dict[str, tuple[str, str]] = {}
    for line in text.split(marker, 1)[1].lstrip("\n").splitlines():
        if line.startswith("{"):
            continue  # the table's attributes ({.stack})
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        key = re.fullmatch(r"`([A-Z_]+)`", cells[0])
        if key:
            rows[key.group(1)] = (cells[1], cells[2])
    return rows


def differences(table: dict[str, tuple[str, str]], defaults: dict[str, Any]) -> list[str]:
    """What the documented table says otherwise than ``defaults``."""
    found = [f"{key}: not documented" for key in defaults if key not in table]
    found += [f"{key}: documented, not a setting" for key in table if key not in defaults]
    for key in table.keys() & defaults.keys():
        kind, default = table[key]
        if default != f"`{defaults[key]!r}`":
            found.append(f"{key}: documented default {default}, DEFAULTS has {defaults[key]!r}")
        if not kind.startswith(f"`{type(defaults[key]).__name__}`"):
            found.append(f"{key}: documented type {kind}")
    return sorted(found)


@pytest.mark.parametrize(
    ("name", "defaults"),
    [("LAAFFIC_RECALL", conf.DEFAULTS), ("LAAFFIC_SANDBOX", sandbox_conf.DEFAULTS)],
)
def test_the_settings_reference_lists_every_key_with_its_default_and_type(name, defaults):
    table = settings_table(SETTINGS_PAGE.read_text(encoding="utf-8"), name)
    assert differences(table, defaults) == []
    assert list(table) == list(defaults), "listed in another order than DEFAULTS"


def test_a_default_changed_or_a_key_added_in_the_code_alone_is_caught():
    table = settings_table(SETTINGS_PAGE.read_text(encoding="utf-8"), "LAAFFIC_RECALL")
    code = dict(conf.DEFAULTS, READ_TIMEOUT=30, NEW_KEY=1)
    assert differences(table, code) == [
        "NEW_KEY: not documented",
        "READ_TIMEOUT: documented default `20.0`, DEFAULTS has 30",
        "READ_TIMEOUT: documented type `float`",
    ]


def docs_screens_module():
    path = ROOT / "scripts" / "docs-screens"
    loader = importlib.machinery.SourceFileLoader("docs_screens", str(path))
    spec = importlib.util.spec_from_loader("docs_screens", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_every_screen_the_docs_show_is_taken_by_a_browser_test_and_committed():
    screens = docs_screens_module().SCREENS
    shown = {
        match
        for page in DOCS.rglob("*.md")
        if "_build" not in page.parts
        for match in re.findall(r"_static/screens/([\w.-]+\.png)", page.read_text("utf-8"))
    }
    assert shown, "no page shows a screen"
    assert shown - set(screens) == set(), "shown but taken by no test in scripts/docs-screens"
    assert set(screens) - shown == set(), "copied by scripts/docs-screens but shown nowhere"
    for name in screens:
        assert (DOCS / "_static" / "screens" / name).is_file(), f"{name} is not committed"
    for test, _artifact in screens.values():
        path, _, function = test.partition("::")
        assert f"def {function}(" in (ROOT / path).read_text(), f"no test {test}"


def test_the_readme_is_a_front_door():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 150
    # .ci/run checks the test command; the demo command and the docs' build are beside it.
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = re.search(r"^TEST_COMMAND='(.+)'$", ci, re.MULTILINE)
    assert test_command and test_command.group(1) in readme
    assert "manage.py laaffic_demo" in readme
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / link).exists(), f"the README links to {link}, which does not exist"
