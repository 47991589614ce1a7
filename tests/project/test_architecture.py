"""The layout holds: each name imported from where it is defined, layers that point down.

Read from the source, as text: no module is imported here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "laaffic_recall"


def modules() -> list[Path]:
    return sorted(p for p in APP.rglob("*.py") if "migrations" not in p.parts)


def dotted(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def resolve(path: Path, node: ast.ImportFrom) -> str:
    """The absolute module name of a (relative) ``from ... import``."""
    if node.level == 0:
        return node.module or ""
    package = dotted(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def source_of(module: str) -> Path | None:
    relative = Path(*module.split("."))
    for candidate in (
        APP.parent / relative.with_suffix(".py"),
        APP.parent / relative / "__init__.py",
    ):
        if candidate.exists():
            return candidate
    return None


def defined_names(path: Path) -> set[str]:
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def app_imports(path: Path):
    """(line, absolute module, name) of every import of the app's own names in ``path``."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            module = resolve(path, node)
            if module.split(".")[0] == "laaffic_recall":
                for alias in node.names:
                    yield node.lineno, module, alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "laaffic_recall":
                    yield node.lineno, alias.name, None


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(APP)))
def test_each_name_is_imported_from_the_module_that_defines_it(path):
    if path.name == "__init__.py":
        return  # a package's public API re-exports on purpose (docs: API reference)
    wrong = []
    for line, module, name in app_imports(path):
        if name is None or source_of(f"{module}.{name}") is not None:
            continue  # a module, not a name
        source = source_of(module)
        if source is None or name not in defined_names(source):
            wrong.append(f"line {line}: {name} from {module}")
    assert wrong == []


@pytest.mark.parametrize("path", sorted((APP / "client").glob("*.py")), ids=lambda p: p.name)
def test_the_client_knows_nothing_of_the_rest_of_the_app_nor_of_django_but_two_names(path):
    app, django = set(), set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            module = resolve(path, node)
            names = {f"{module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            names = {alias.name for alias in node.names}
        else:
            continue
        app |= {n for n in names if n.split(".")[0] == "laaffic_recall"}
        django |= {n for n in names if n.split(".")[0] == "django"}
    assert {n for n in app if not n.startswith("laaffic_recall.client.")} == set()
    # Its configuration error, and the marker of the agent's next step of each vendor code
    # for the catalogue: neither needs settings.
    assert django <= {
        "django.core.exceptions.ImproperlyConfigured",
        "django.utils.translation.gettext_noop",
    }


def test_nothing_of_the_main_app_imports_the_sandbox():
    users = [
        f"{path.relative_to(APP)}:{line}"
        for path in modules()
        if "sandbox" not in path.relative_to(APP).parts
        for line, module, _name in app_imports(path)
        if module.startswith("laaffic_recall.sandbox")
    ]
    assert users == []


def test_a_module_name_names_one_job_across_the_packages():
    """``results`` and ``service`` hold the same job in each service package (sync, cancel);
    any other name is used once in the app (the sandbox, a separate app, aside)."""
    packages: dict[str, set[str]] = {}
    for path in modules():
        parts = path.relative_to(APP).parts
        if path.name != "__init__.py" and parts[0] != "sandbox":
            packages.setdefault(path.stem, set()).add("/".join(parts[:-1]))
    shared = {name: where for name, where in packages.items() if len(where) > 1}
    assert shared == {"results": {"sync", "cancel"}, "service": {"sync", "cancel"}}


def test_the_layers_point_down():
    """client < conf < models < sync < cancel < admin and the commands: no import upward."""
    order = ["client", "conf", "models", "signals", "sync", "cancel", "forms", "admin"]
    rank = {name: index for index, name in enumerate(order)}
    upward = []
    for path in modules():
        parts = path.relative_to(APP).with_suffix("").parts
        layer = parts[0]
        if layer not in rank:
            continue
        for line, module, _name in app_imports(path):
            target = module.split(".")[1] if "." in module else ""
            if target in rank and rank[target] > rank[layer]:
                upward.append(f"{path.relative_to(APP)}:{line} imports {module}")
    assert upward == []
