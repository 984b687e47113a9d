"""Register a package's submodules in order and unregister them in reverse.

(bpy.utils.register_submodule_factory does this for single-level add-ons only: it deletes
`name.partition(".")[2]` from the package, which breaks for nested packages like ours.)"""
from __future__ import annotations

import importlib


def submodule_registrar(package: str, names: tuple):
    def modules():
        return [importlib.import_module(f".{name}", package) for name in names]

    def register():
        for mod in modules():
            mod.register()

    def unregister():
        for mod in reversed(modules()):
            mod.unregister()

    return register, unregister
