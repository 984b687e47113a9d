"""FaceSpace: one photo -> a textured, animatable 3D head (ICT-FaceKit morphable model).

This file only registers and unregisters; see operators/ (bpy <-> engine), ui/ (panels,
preferences, strings) and api.py (scripting API). engine/ never imports bpy.
"""


def register():
    from . import operators, ui
    operators.register()
    ui.register()


def unregister():
    from . import operators, ui
    ui.unregister()
    operators.unregister()
