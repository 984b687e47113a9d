"""Default materials of the exported head: textured skin, and plain eyes, teeth and mouth.

One table shared by the OBJ/MTL writer, the glTF writer and the Blender add-on, so every
output names and colours the parts the same way. Colours are linear-ish sRGB in [0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Material:
    name: str
    color: tuple          # RGB base colour in [0, 1] (ignored under the texture)
    alpha: float = 1.0    # < 1: blended (wet and shadow layers of the eye)
    roughness: float = 0.6
    textured: bool = False


MATERIALS = (
    Material("skin", (0.8, 0.62, 0.52), textured=True),
    Material("mouth_socket", (0.28, 0.07, 0.07), roughness=0.5),
    Material("eye_socket", (0.35, 0.16, 0.14), roughness=0.5),
    Material("gums_and_tongue", (0.72, 0.3, 0.3), roughness=0.35),
    Material("teeth", (0.9, 0.87, 0.78), roughness=0.3),
    Material("sclera", (0.92, 0.9, 0.86), roughness=0.2),
    Material("iris", (0.24, 0.15, 0.08), roughness=0.2),
    Material("lacrimal_fluid", (1.0, 1.0, 1.0), alpha=0.1, roughness=0.05),
    Material("eye_blend", (0.8, 0.62, 0.52), alpha=0.0),
    Material("eye_occlusion", (0.0, 0.0, 0.0), alpha=0.0),
    Material("eyelashes", (0.05, 0.04, 0.03), roughness=0.7),
)
MATERIAL_INDEX = {m.name: i for i, m in enumerate(MATERIALS)}

# region -> material name; eyeballs are split by ICT's own sclera/iris materials below.
_REGION_MATERIAL = {
    "face": "skin", "head_and_neck": "skin", "mouth_socket": "mouth_socket",
    "eye_socket_left": "eye_socket", "eye_socket_right": "eye_socket",
    "gums_and_tongue": "gums_and_tongue", "teeth": "teeth",
    "eyeball_left": "sclera", "eyeball_right": "sclera",
    "lacrimal_fluid_left": "lacrimal_fluid", "lacrimal_fluid_right": "lacrimal_fluid",
    "eye_blend_left": "eye_blend", "eye_blend_right": "eye_blend",
    "eye_occlusion_left": "eye_occlusion", "eye_occlusion_right": "eye_occlusion",
    "eyelashes_left": "eyelashes", "eyelashes_right": "eyelashes",
}


def polygon_materials(model) -> np.ndarray:
    """(P,) int32 index into MATERIALS for every polygon of the model."""
    out = np.full(len(model.poly_sizes), MATERIAL_INDEX["skin"], dtype=np.int32)
    for region, mat in _REGION_MATERIAL.items():
        if region in model.region_names:
            out[model.region_polygons(region)] = MATERIAL_INDEX[mat]
    iris = [i for i, n in enumerate(model.material_names) if n.lower().startswith("m_iris")]
    out[np.isin(model.poly_materials, iris)] = MATERIAL_INDEX["iris"]
    return out
