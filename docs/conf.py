"""Sphinx configuration of the laaffic-recall docs site (Markdown pages through MyST, furo).

Build: ``nox -s docs`` (or ``sphinx-build -W -n --keep-going -b html docs docs/_build/html``
with docs/requirements.txt and requirements.txt installed). The build never goes to the
network: the inventories that intersphinx resolves Django's and Python's names against are
committed in ``_inventories/`` (see ``scripts/docs-inventories``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent / "_ext"))
# autodoc imports the app's modules, which need settings: the bundled site's, with no .env
# and no database access.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
django.setup()

import laaffic_recall  # noqa: E402  (after django.setup())

project = "laaffic-recall"
author = "laaffic-recall maintainers"
copyright = "laaffic-recall maintainers"
release = laaffic_recall.__version__
version = release

extensions = [
    "codemap",
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "_inventories"]
language = "en"

myst_enable_extensions = ["attrs_block", "colon_fence", "deflist"]
# Headings get anchors down to ###, so a page can link to [a section](page.md#its-slug).
myst_heading_anchors = 3

# Django's and Python's objects, from committed inventories: a build without network
# resolves {class}`~django.contrib.admin.ModelAdmin` all the same, and links to the
# versions the app is tested with (Django 5.2 LTS, Python 3.11).
INVENTORIES = Path(__file__).parent / "_inventories"
intersphinx_mapping = {
    "django": ("https://docs.djangoproject.com/en/5.2/", str(INVENTORIES / "django-5.2.inv")),
    "python": ("https://docs.python.org/3.11/", str(INVENTORIES / "python-3.11.inv")),
}
intersphinx_timeout = 1

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_default_options = {"members": True}

# Names in the app's signatures that no inventory holds: the HTTP library's classes, and
# typing aliases and type variables that Sphinx cannot link.
nitpick_ignore = [
    ("py:class", "requests.exceptions.RequestException"),
    ("py:class", "requests.RequestException"),
    ("py:class", "requests.Session"),
    ("py:class", "requests.sessions.Session"),
]
nitpick_ignore_regex = [
    # Django's model and manager internals named in signatures but not in its docs' index.
    (r"py:class", r"django\.db\.models\.(query|manager|fields)\..*"),
    # A database connection's class (the type of django.db.connection).
    (r"py:class", r"django\.db\.backends\..*"),
]

html_theme = "furo"
html_title = f"laaffic-recall {release}"
html_static_path = ["_static"]
html_css_files = ["site.css"]
html_js_files = ["site.js"]
html_show_sourcelink = False


def public_name(app, env, node, contnode):
    """Point a reference to a name by the module that defines it
    (``laaffic_recall.cancel.results.CancelTarget``) at its documented public name
    (``laaffic_recall.cancel.CancelTarget``), when that is documented. Runs before
    intersphinx (priority 400), returns the resolved reference or None."""
    target = node.get("reftarget", "")
    if node.get("refdomain") != "py" or not target.startswith("laaffic_recall."):
        return None
    domain = env.get_domain("py")
    module, _, name = target.rpartition(".")
    while "." in module:
        module = module.rpartition(".")[0]
        candidate = f"{module}.{name}"
        if candidate in domain.objects:
            return domain.resolve_xref(
                env, node["refdoc"], app.builder, node["reftype"], candidate, node, contnode
            )
    return None


def page_language(app, pagename, templatename, context, doctree):
    """A page's own language (``html_lang`` in its front matter) on its ``<html lang>``."""
    language = (context.get("meta") or {}).get("html_lang")
    if language:
        context["language"] = language


def setup(app):
    # Django's docs define the "setting" object type; with it, {setting}`TIME_ZONE` resolves
    # through the Django inventory as in Django's own pages.
    app.add_crossref_type("setting", "setting", "pair: %s; setting")
    app.connect("missing-reference", public_name, priority=400)
    app.connect("html-page-context", page_language)
