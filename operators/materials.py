"""Materials of the head: the skin with the photo texture, and defaults for eyes, teeth, mouth.

The parts and their colours come from the engine's one table (engine/model/materials.py),
shared with the OBJ and glTF writers, so every output names and colours them the same way.

The skin material holds two image nodes, as-photographed and de-lit; `set_texture_mode`
links one of them to the shader (the head's texture_mode property calls it).
"""
from __future__ import annotations

import numpy as np

from ..engine.model.materials import MATERIALS

SKIN_FALLBACK = (0.8, 0.6, 0.5, 1.0)
PHOTO_NODE, DELIT_NODE = "FaceSpace Photo", "FaceSpace De-lit"


def image_from_array(name: str, rgb: np.ndarray):
    """A packed Blender image from an (H, W, 3) uint8 array (row 0 at the top)."""
    import bpy
    h, w = rgb.shape[:2]
    img = bpy.data.images.new(name, w, h, alpha=False)
    rgba = np.ones((h, w, 4), dtype=np.float32)
    rgba[..., :3] = rgb[::-1].astype(np.float32) / 255.0  # Blender's row 0 is the bottom
    img.pixels.foreach_set(rgba.ravel())
    img.pack()  # travels inside the .blend
    return img


def _principled(mat):
    return next(n for n in mat.node_tree.nodes if n.type == 'BSDF_PRINCIPLED')


def default_material(name: str, colour, roughness: float, alpha: float):
    import bpy
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    bsdf = _principled(mat)
    bsdf.inputs["Base Color"].default_value = colour
    bsdf.inputs["Roughness"].default_value = roughness
    bsdf.inputs["Alpha"].default_value = alpha
    mat.diffuse_color = colour[:3] + (alpha,)
    if alpha < 1.0:
        mat.blend_method = 'BLEND'  # EEVEE Legacy; 4.2+ EEVEE dithers alpha by default
    return mat


def skin_material(name: str, photo_tex=None, delit_tex=None, mode: str = 'PHOTO'):
    """Principled skin whose base colour comes from the photo or the de-lit texture."""
    import bpy
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    nodes = mat.node_tree.nodes
    bsdf = _principled(mat)
    bsdf.inputs["Base Color"].default_value = SKIN_FALLBACK
    bsdf.inputs["Roughness"].default_value = 0.5
    mat.diffuse_color = SKIN_FALLBACK
    for i, (node_name, image) in enumerate(((PHOTO_NODE, photo_tex), (DELIT_NODE, delit_tex))):
        if image is None:
            continue
        tex = nodes.new("ShaderNodeTexImage")
        tex.name = tex.label = node_name
        tex.image = image
        tex.location = (-420, 300 - 300 * i)
    set_texture_mode(mat, mode)
    return mat


def set_texture_mode(mat, mode: str) -> None:
    """Link the chosen texture (PHOTO or DELIT; the other one if that is missing) to the shader."""
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    bsdf = _principled(mat)
    wanted = [PHOTO_NODE, DELIT_NODE] if mode == 'PHOTO' else [DELIT_NODE, PHOTO_NODE]
    tex = next((nodes[n] for n in wanted if n in nodes), None)
    for link in list(bsdf.inputs["Base Color"].links):
        links.remove(link)
    if tex is not None:
        links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
        nodes.active = tex  # what Solid view's "Texture" colour mode shows


def head_materials(head_name: str, photo_tex=None, delit_tex=None, mode='PHOTO') -> list:
    """One material per entry of the engine's MATERIALS, in its order (the mesh's
    material_index comes from `engine.model.materials.polygon_materials`)."""
    return [skin_material(f"{head_name} skin", photo_tex, delit_tex, mode) if m.textured
            else default_material(f"{head_name} {m.name}", (*m.color, 1.0), m.roughness, m.alpha)
            for m in MATERIALS]


def is_skin(mat) -> bool:
    """The textured material of a head (it holds, or would hold, the photo textures)."""
    nodes = mat.node_tree.nodes if mat.node_tree else ()
    return any(n.name in (PHOTO_NODE, DELIT_NODE) for n in nodes) or mat.name.endswith(" skin")


def replace_textures(mat, photo_tex=None, delit_tex=None, mode: str = 'PHOTO') -> list:
    """Point the skin's image nodes at new textures (nodes made where missing); returns the
    images they showed before. The rest of the material (the artist's changes) stays."""
    nodes = mat.node_tree.nodes
    old = []
    for i, (node_name, image) in enumerate(((PHOTO_NODE, photo_tex), (DELIT_NODE, delit_tex))):
        if image is None:
            continue
        tex = nodes.get(node_name)
        if tex is None:
            tex = nodes.new("ShaderNodeTexImage")
            tex.name = tex.label = node_name
            tex.location = (-420, 300 - 300 * i)
        elif tex.image is not None and tex.image != image:
            old.append(tex.image)
        tex.image = image
    set_texture_mode(mat, mode)
    return old
