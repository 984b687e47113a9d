"""The add-on's layering, read from the source (no bpy): operators/ and ui/ never import each
other (both may import strings.py and common/); common/ imports neither; mesh.py never imports
sliders.py; one registration list; nothing at module level of the registration path imports
torch, torchvision, mediapipe or facenet_pytorch (test_addon_no_torch.py proves it in Blender)."""
from __future__ import annotations

import ast

import pytest

from tests.conftest import ROOT

HEAVY = {"torch", "torchvision", "mediapipe", "facenet_pytorch"}


def imports(path) -> list:
    """(resolved module path relative to the add-on root, at module level?) per import."""
    rel = path.relative_to(ROOT).with_suffix("")
    package = list(rel.parts[:-1]) if rel.name != "__init__" else list(rel.parts[:-1])
    tree = ast.parse(path.read_text())
    top = {id(n) for n in tree.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            names = [mod] if node.module else [f"{mod}.{a.name}".lstrip(".") for a in node.names]
            out += [(n if node.level else node.module, id(node) in top) for n in names]
        elif isinstance(node, ast.Import):
            out += [(a.name, id(node) in top) for a in node.names]
    return out


def addon_files(folder):
    return sorted((ROOT / folder).glob("*.py"))


@pytest.mark.parametrize("folder, forbidden", [("operators", "ui"), ("ui", "operators"),
                                               ("common", "operators"), ("common", "ui")])
def test_layers_do_not_import_each_other(folder, forbidden):
    for path in addon_files(folder):
        bad = [m for m, _ in imports(path) if m == forbidden or m.startswith(forbidden + ".")]
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_mesh_writing_does_not_import_the_sliders():
    assert not [m for m, _ in imports(ROOT / "operators" / "mesh.py") if m.endswith("sliders")]


def test_no_heavy_import_at_module_level():
    files = [ROOT / "__init__.py", ROOT / "registration.py", ROOT / "strings.py", ROOT / "api.py"]
    files += addon_files("operators") + addon_files("ui") + addon_files("common")
    for path in files:
        heavy = [m for m, top in imports(path) if top and m.split(".")[0] in HEAVY]
        assert not heavy, f"{path.relative_to(ROOT)} imports {heavy} at module level"


def test_one_registration_list():
    text = {p: p.read_text() for p in [ROOT / "__init__.py"] + addon_files("operators") + addon_files("ui")}
    assert not [p for p, t in text.items() if "submodule_registrar" in t or "_MODULES" in t]
    tree = ast.parse((ROOT / "registration.py").read_text())
    modules = next(ast.literal_eval(n.value) for n in tree.body
                   if isinstance(n, ast.Assign) and n.targets[0].id == "MODULES")
    assert modules[0] == "operators.properties" and modules.index("ui.edit_panel") < modules.index("ui.panels")
    for name in modules:
        assert (ROOT / (name.replace(".", "/") + ".py")).is_file(), name
