"""Texture: the UV texture from the photo (torch).

    bake_texture(image, model, vertices, world_to_camera, K, size=2048) -> TextureResult
    prepare(model): warm the per-model caches (texture-space rasterisation) ahead of a bake
The atlas layout and the material table are model data: model/atlas.py, model/materials.py.
See docs/texture.md.
"""
from .bake import TextureResult, bake_texture
from .uvmap import prepare, uv_raster

__all__ = ["bake_texture", "TextureResult", "uv_raster", "prepare"]
