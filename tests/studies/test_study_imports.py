"""Package imports: public names load on first use, light modules stay light.

Each check runs in a fresh interpreter at the repository root: the import state of the
test process (where ``tests/studies`` can shadow the ``studies`` package) is not the one
users get.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.mark.parametrize("package", ["studies", "shrinknets_core"])
def test_every_public_name_resolves_to_its_defining_module(package: str) -> None:
    code = f"""
import importlib
module = importlib.import_module({package!r})
assert sorted(module._EXPORTS) == sorted(module.__all__) == sorted(dir(module))
for name in module.__all__:
    defining = importlib.import_module(module._EXPORTS[name])
    assert getattr(module, name) is getattr(defining, name), name
try:
    module.no_such_name
except AttributeError as error:
    print(error)
"""
    assert _run(code) == f"module {package!r} has no attribute 'no_such_name'"


def test_a_submodule_is_reachable_as_an_attribute_of_its_package() -> None:
    assert _run("import studies; print(studies.pareto.pareto_front is studies.pareto_front)"
                ) == "True"


def test_the_spec_models_import_without_torch_or_optuna() -> None:
    """``import studies.spec`` (what the API's request models need) loads no torch."""
    assert _run("import sys, studies.spec; "
                "print(sorted(m for m in ('torch', 'optuna') if m in sys.modules))") == "[]"
