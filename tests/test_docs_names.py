"""Every code name the design docs mention exists: dotted names import, file paths exist.

``docs/architecture.md`` and ``docs/method.md`` name modules, functions and files of this
project (in backticks); when code moves and a doc does not, this fails and names the
stale mention.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ("docs/architecture.md", "docs/method.md")
_DOTTED = re.compile(r"`((?:shrinknets_core|studies|service)(?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
_PATH = re.compile(r"`((?:shrinknets_core|studies|service|bench|tests|docs)/[\w/.-]+\.(?:py|md))")


def _mentions(pattern: re.Pattern[str]) -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        text = (ROOT / doc).read_text("utf-8")
        found += [(doc, m) for m in dict.fromkeys(pattern.findall(text))]
    return found


def _resolve(name: str) -> object:
    """Import the longest module prefix of ``name``, then get the rest as attributes."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(name)


@pytest.mark.parametrize(("doc", "name"), _mentions(_DOTTED))
def test_every_dotted_name_in_the_docs_imports(doc: str, name: str) -> None:
    try:
        _resolve(name)
    except (ImportError, AttributeError) as e:
        pytest.fail(f"{doc} mentions `{name}`, which does not import ({e})")


@pytest.mark.parametrize(("doc", "path"), _mentions(_PATH))
def test_every_file_path_in_the_docs_exists(doc: str, path: str) -> None:
    assert (ROOT / path).exists(), f"{doc} mentions `{path}`, which does not exist"
