"""FaceSpace: one photo -> a textured, animatable 3D head (ICT-FaceKit morphable model).

This file only registers and unregisters. registration.py holds the ordered list of what
registers; operators/ (bpy <-> engine), ui/ (panels, preferences), common/ (what both use),
strings.py (every user-visible string) and api.py (scripting API). engine/ never imports bpy.
Nothing on the registration or drawing path imports torch, torchvision, mediapipe or
facenet_pytorch: without them the add-on still registers and its preferences offer to install
them.
"""


def register():
    # First of all: the folder the preferences install the Python dependencies into goes on
    # sys.path, so every later import (lazily, at the first reconstruction) finds them.
    from .common import deps
    deps.add_to_sys_path()
    from . import registration
    registration.register()


def unregister():
    from . import registration
    from .common import deps
    registration.unregister()
    deps.remove_from_sys_path()
