"""Default materials of the exported head: textured skin, and plain eyes, teeth and mouth.

One table shared by the OBJ/MTL writer, the glTF writer and the Blender add-on, so every
output names and colours the parts the same way. Colours are linear-ish sRGB in [0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.cache import cached


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
    Material("pupil", (0.02, 0.02, 0.02), roughness=0.2),
    Material("cornea", (1.0, 1.0, 1.0), alpha=0.0, roughness=0.02),   # clear: shows the iris behind
    Material("lacrimal_fluid", (1.0, 1.0, 1.0), alpha=0.1, roughness=0.05),
    Material("eye_blend", (0.8, 0.62, 0.52), alpha=0.0),
    Material("eye_occlusion", (0.0, 0.0, 0.0), alpha=0.0),
    Material("eyelashes", (0.05, 0.04, 0.03), alpha=0.25, roughness=0.7),   # plain cards read as eyeliner when opaque
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


# ICT's eyeball is two shells: the outer "sclera" one bulges into a clear cornea at the front
# (its texture is transparent there) over an inner "iris" one that is white except for the iris
# disk, whose pupil is a tunnel into the eye. Plain colours need that split as polygons: by
# their distance from the eye's optical axis (front half only), in eyeball radii.
IRIS_RADIUS = 0.37      # ICT's iris disk is ~1.2 cm across on a ~1.6 cm eyeball radius
PUPIL_RADIUS = 0.13     # ~4 mm
CORNEA_RADIUS = 0.46    # the clear bulge of the outer shell, a little wider than the iris


def polygon_materials(model) -> np.ndarray:
    """(P,) int32 index into MATERIALS for every polygon of the model (read-only; computed
    once per model: the texture bake, both writers and the add-on all ask for it)."""
    def build():
        out = _polygon_materials(model)
        out.setflags(write=False)
        return out
    return cached(model, "polygon_materials", build)


def _polygon_materials(model) -> np.ndarray:
    out = np.full(len(model.poly_sizes), MATERIAL_INDEX["skin"], dtype=np.int32)
    for region, mat in _REGION_MATERIAL.items():
        if region in model.region_names:
            out[model.region_polygons(region)] = MATERIAL_INDEX[mat]
    names = [n.lower() for n in model.material_names]
    for side in ("left", "right"):
        if f"m_sclera{side}" in names and f"m_iris{side}" in names:
            _split_eye(model, out, names.index(f"m_sclera{side}"), names.index(f"m_iris{side}"))
    return out


def _split_eye(model, out, sclera_material, iris_material):
    """Cornea, iris and pupil polygons of one eye by their distance from its optical axis: the
    axis runs from the centre of the sphere fitted to the outer shell through its cornea bulge."""
    sizes = np.asarray(model.poly_sizes, dtype=np.int64)
    starts, corners = model.poly_starts, np.asarray(model.corner_verts, dtype=np.int64)
    v = np.asarray(model.mean, dtype=np.float64)
    corner_material = np.repeat(np.asarray(model.poly_materials), sizes)
    sclera = np.nonzero(np.asarray(model.poly_materials) == sclera_material)[0]
    iris = np.nonzero(np.asarray(model.poly_materials) == iris_material)[0]
    sclera_v = np.unique(corners[corner_material == sclera_material])
    if len(sclera_v) < 4 or len(iris) == 0:
        return
    p = v[sclera_v]                                           # sphere |p - c|^2 = r^2, linear in (c, r^2 - |c|^2)
    sol = np.linalg.lstsq(np.c_[2 * p, np.ones(len(p))], (p ** 2).sum(1), rcond=None)[0]
    c = sol[:3]
    d = np.linalg.norm(p - c, axis=1)
    radius = float(np.sqrt(sol[3] + c @ c))
    axis = (p[d >= np.quantile(d, 0.98)] - c).sum(0)          # towards the cornea's apex
    axis /= np.linalg.norm(axis)
    centroid = np.add.reduceat(v[corners], starts, axis=0) / sizes[:, None]

    def within(polys, r):
        """polys whose centroid lies in front of the centre, closer than r eyeball radii to the axis"""
        d = centroid[polys] - c
        along = d @ axis
        return polys[(along > 0) & (np.linalg.norm(d - along[:, None] * axis, axis=1) < r * radius)]

    out[within(sclera, CORNEA_RADIUS)] = MATERIAL_INDEX["cornea"]
    # the inner shell: its back half is seen only through the pupil (dark, as inside an eye),
    # its front is white but for the iris disk
    back = (centroid[iris] - c) @ axis <= 0
    out[iris] = np.where(back, MATERIAL_INDEX["pupil"], MATERIAL_INDEX["sclera"])
    out[within(iris, IRIS_RADIUS)] = MATERIAL_INDEX["iris"]
    out[within(iris, PUPIL_RADIUS)] = MATERIAL_INDEX["pupil"]
