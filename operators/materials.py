"""Materials of the head: the skin with the photo texture, and defaults for eyes, teeth, mouth.

The skin material holds two image nodes, as-photographed and de-lit; `set_texture_mode`
links one of them to the shader (the head's texture_mode property calls it).
"""
from __future__ import annotations

import numpy as np

# ICT material name -> (colour RGBA, roughness, alpha); skin materials use the texture.
SKIN = ("M_Face", "M_BackHead")
DEFAULTS = {
    "M_GumsTongue": ((0.55, 0.18, 0.18, 1.0), 0.4, 1.0),
    "M_Teeth": ((0.85, 0.82, 0.74, 1.0), 0.3, 1.0),
    "M_ScleraLeft": ((0.85, 0.83, 0.80, 1.0), 0.2, 1.0),
    "M_ScleraRight": ((0.85, 0.83, 0.80, 1.0), 0.2, 1.0),
    "M_IrisLeft": ((0.18, 0.11, 0.06, 1.0), 0.2, 1.0),
    "M_IrisRight": ((0.18, 0.11, 0.06, 1.0), 0.2, 1.0),
    "M_LacrimalFluid": ((1.0, 1.0, 1.0, 1.0), 0.05, 0.0),
    "M_EyeBlend": ((0.5, 0.4, 0.35, 1.0), 0.5, 0.0),
    "M_EyeOcclusion": ((0.0, 0.0, 0.0, 1.0), 1.0, 0.0),
    "M_EyeLashes": ((0.03, 0.02, 0.015, 1.0), 0.6, 1.0),
}
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


def head_materials(model, head_name: str, photo_tex=None, delit_tex=None, mode='PHOTO') -> list:
    """One material per model material slot, in model.material_names order."""
    skin = skin_material(f"{head_name} skin", photo_tex, delit_tex, mode)
    mats = []
    for mname in model.material_names:
        if mname in SKIN:
            mats.append(skin)
        else:
            colour, rough, alpha = DEFAULTS.get(mname, (SKIN_FALLBACK, 0.5, 1.0))
            mats.append(default_material(f"{head_name} {mname[2:]}", colour, rough, alpha))
    return mats
