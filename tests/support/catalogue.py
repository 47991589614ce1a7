"""Read a gettext ``.po`` file into its entries: enough to compare catalogues and find
untranslated or fuzzy messages (the test of the catalogues; no parser ships with Django)."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Entry:
    fields: dict[str, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    obsolete: bool = False

    @property
    def key(self) -> tuple[str, str, str]:
        return (
            self.fields.get("msgctxt", ""),
            self.fields.get("msgid", ""),
            self.fields.get("msgid_plural", ""),
        )

    @property
    def translations(self) -> list[str]:
        return [v for k, v in self.fields.items() if k.startswith("msgstr")]


def read_po(path: Path) -> list[Entry]:
    """The messages of ``path`` (the header, with an empty msgid, left out)."""
    entries: list[Entry] = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        entry, current = Entry(), None
        for line in block.strip().splitlines():
            if line.startswith("#~"):
                entry.obsolete = True
            elif line.startswith("#,"):
                entry.flags |= {flag.strip() for flag in line[2:].split(",")}
            elif line.startswith("#"):
                continue
            elif line.startswith('"'):
                entry.fields[current] += ast.literal_eval(line)
            elif line.strip():
                current, text = line.split(" ", 1)
                entry.fields[current] = ast.literal_eval(text)
        if entry.fields.get("msgid"):
            entries.append(entry)
    return entries
