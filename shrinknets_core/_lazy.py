"""Lazy package attributes (PEP 562), as optuna's ``_LazyImport`` does: a package's
public names are imported from their modules on first use, so a light submodule can be
imported without the heavy ones (torch)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(
    package: str, exports: dict[str, str], public: Sequence[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``.

    Args:
        package: The package's ``__name__``.
        exports: Public name → the module that defines it.
        public: The package's ``__all__`` (what ``dir()`` lists).

    ``__getattr__`` imports a public name's module on first access and caches the name in
    the package; any other name is tried as a submodule (``package.name``).
    """

    def getattr_(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            if name.startswith("__"):
                raise AttributeError(f"module {package!r} has no attribute {name!r}")
            try:
                return importlib.import_module(f"{package}.{name}")
            except ModuleNotFoundError as missing:
                if missing.name != f"{package}.{name}":
                    raise  # the submodule exists; something it imports does not
                raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(module), name)
        vars(sys.modules[package])[name] = value
        return value

    def dir_() -> list[str]:
        return sorted(public)

    return getattr_, dir_
