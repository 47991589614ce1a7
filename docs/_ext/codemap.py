"""The ``code-map`` directive: the app's packages and modules, each with the first sentence
of its docstring, read from the tree at build time, so the map cannot fall behind the code.

    ```{code-map} laaffic_recall
    :exclude: migrations sandbox
    ```
"""

from __future__ import annotations

import ast
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util.docutils import SphinxDirective

ROOT = Path(__file__).resolve().parents[2]


def summary(path: Path) -> str:
    """The first sentence of a module's docstring, on one line."""
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    first = " ".join(docstring.split("\n\n")[0].split())
    return first.split(". ")[0].rstrip(".").replace("``", "")


def entries(package: Path, exclude: set[str]) -> list[tuple[str, str, list]]:
    """``(name, summary, children)`` for each module and subpackage of ``package``."""
    found = []
    for path in sorted(package.iterdir()):
        if path.name in exclude or path.name.startswith(("_", ".")):
            continue
        if path.is_dir() and (path / "__init__.py").exists():
            found.append((path.name + "/", summary(path / "__init__.py"), entries(path, exclude)))
        elif path.suffix == ".py":
            found.append((path.name, summary(path), []))
    return found


def bullet_list(items: list[tuple[str, str, list]]) -> nodes.bullet_list:
    listing = nodes.bullet_list()
    for name, text, children in items:
        paragraph = nodes.paragraph()
        paragraph += nodes.literal(name, name)
        if text:
            paragraph += nodes.Text(f": {text}")
        item = nodes.list_item()
        item += paragraph
        if children:
            item += bullet_list(children)
        listing += item
    return listing


class CodeMap(SphinxDirective):
    required_arguments = 1
    option_spec = {"exclude": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        package = ROOT / self.arguments[0]
        for path in package.rglob("*.py"):
            self.env.note_dependency(str(path))
        exclude = set(self.options.get("exclude", "").split())
        return [bullet_list(entries(package, exclude))]


def setup(app):
    app.add_directive("code-map", CodeMap)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
