"""The engine's layers, enforced: the import-linter contracts in .importlinter pass, each of
them bites on a violation, and no engine module imports another in a circle."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def lint(root: Path) -> subprocess.CompletedProcess:
    if not LINT.exists():
        pytest.skip("import-linter is not installed (it is in requirements.txt)")
    return subprocess.run([str(LINT), "--config", str(root / ".importlinter"), "--no-cache"], cwd=root,
                          capture_output=True, text=True, timeout=300)


def test_contracts_pass():
    r = lint(ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3 kept, 0 broken" in r.stdout


@pytest.fixture(scope="module")
def engine_copy(tmp_path_factory) -> Path:
    """A copy of engine/ and the contracts, to break on purpose."""
    dest = tmp_path_factory.mktemp("arch")
    shutil.copytree(ROOT / "engine", dest / "engine", ignore=shutil.ignore_patterns("__pycache__", "data"))
    shutil.copy(ROOT / ".importlinter", dest / ".importlinter")
    return dest


@pytest.mark.parametrize("module, line, contract", [
    # a stage importing the pipeline above it
    ("engine/fit/upward.py", "from ..pipeline import reconstruct\n", "Engine layers"),
    # runtime code importing evaluation code
    ("engine/model/uses_eval.py", "from ..eval import metrics\n", "Runtime code imports neither"),
    # two sibling modules importing each other
    ("engine/core/loop_a.py", "from . import loop_b\n", "No import cycles"),
])
def test_each_contract_bites(engine_copy, module, line, contract):
    extra = {"engine/core/loop_a.py": ("engine/core/loop_b.py", "from . import loop_a\n")}
    written = [engine_copy / module]
    written[0].write_text(line)
    if module in extra:
        other, text = extra[module]
        written.append(engine_copy / other)
        written[1].write_text(text)
    try:
        r = lint(engine_copy)
        assert r.returncode != 0
        broken = [l for l in r.stdout.splitlines() if l.endswith("BROKEN")]
        assert any(l.startswith(contract) for l in broken), r.stdout
    finally:
        for p in written:
            p.unlink()
    assert lint(engine_copy).returncode == 0   # and the copy is clean again


def test_no_import_cycles_between_modules():
    grimp = pytest.importorskip("grimp")
    import networkx as nx
    sys.path.insert(0, str(ROOT))
    graph = grimp.build_graph("engine", cache_dir=None)
    g = nx.DiGraph()
    for m in graph.modules:
        g.add_node(m)
        for imported in graph.find_modules_directly_imported_by(m):
            # a package's __init__ re-exporting its own submodules is not a cycle of code
            if not imported.startswith(m + "."):
                g.add_edge(m, imported)
    cycles = [sorted(c) for c in nx.strongly_connected_components(g) if len(c) > 1]
    assert cycles == []


def test_engine_never_imports_bpy():
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "engine").rglob("*.py")
                 if any(l.strip().startswith(("import bpy", "from bpy")) for l in p.read_text().splitlines())]
    assert offenders == []


def test_every_engine_module_imports():
    """Moved code leaves no stale import behind (commands and benchmarks are imported lazily,
    so nothing else would notice)."""
    import importlib
    import pkgutil
    sys.path.insert(0, str(ROOT))
    import engine
    failed = {}
    for m in pkgutil.walk_packages(engine.__path__, "engine."):
        if m.name.endswith(("nvdiffrast_backend", "__main__")):
            continue   # optional CUDA package; the CLI entry runs main() on import
        try:
            importlib.import_module(m.name)
        except Exception as exc:  # noqa: BLE001 - collect them all for one report
            failed[m.name] = repr(exc)
    assert failed == {}


def test_registration_path_imports_without_heavy_packages():
    """What the add-on imports while Blender registers it must load with torch, mediapipe
    and facenet-pytorch absent (the add-on's own dependency installer comes after)."""
    code = r'''
import sys
BLOCKED = ("torch", "torchvision", "mediapipe", "facenet_pytorch")
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"blocked: {name}")
sys.meta_path.insert(0, Blocker())
import engine.core.errors, engine.core.paths, engine.core.geometry, engine.core.cache
import engine.model, engine.model.atlas, engine.model.materials, engine.model.install
import engine.editing, engine.editing.measure
print("ok")
'''
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
