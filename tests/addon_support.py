"""Shared by the add-on tests: the add-on loaded from this repository (through the headless
script's loader), a factory-fresh scene per test, and evaluated mesh positions."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from tests.conftest import ROOT

bpy = pytest.importorskip("bpy")
_spec = importlib.util.spec_from_file_location("headless_reconstruct", ROOT / "scripts" / "headless_reconstruct.py")
headless = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(headless)


@pytest.fixture(scope="module")
def addon(ict_model):
    yield headless.load_addon()
    headless.unload_addon()  # bpy can hang at exit with the classes still registered


@pytest.fixture
def scene(addon):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return bpy.context.scene


def evaluated_vertices(obj) -> np.ndarray:
    """Evaluated positions in mesh space (model units, cm; the object's 0.01 scale not applied)."""
    dg = bpy.context.evaluated_depsgraph_get()
    ev = obj.evaluated_get(dg)
    mesh = ev.to_mesh()
    co = np.empty(len(mesh.vertices) * 3, np.float32)
    mesh.vertices.foreach_get("co", co)
    ev.to_mesh_clear()
    return co.reshape(-1, 3)
