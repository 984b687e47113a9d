"""FaceSpace engine: photo -> 3D morphable-model head. Never imports bpy.

Modules import each other relatively, so this package runs as `python -m engine` from the
repository root and as a subpackage of the Blender extension. Import what you need from
the submodules (model, install, ...); nothing heavy is imported here.
"""
__version__ = "0.1.0"
