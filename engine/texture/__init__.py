"""UV texture from the photo (bake) and the shared atlas / default-material tables.

    bake_texture(image, model, vertices, world_to_camera, K, size=2048) -> TextureResult
    atlas_uvs(model) -> (T, 2) UVs of the baked atlas (use these for every export)
    polygon_materials(model), MATERIALS: default materials per polygon
    prepare(model): warm the per-model caches (texture-space rasterisation) ahead of a bake
See docs/texture.md.
"""
from .atlas import FACE_FRACTION, atlas_uvs, fan_corner_triangles, skin_polygons
from .bake import TextureResult, bake_texture
from .materials import MATERIAL_INDEX, MATERIALS, Material, polygon_materials
from .uvmap import prepare, uv_raster

__all__ = ["bake_texture", "TextureResult", "atlas_uvs", "fan_corner_triangles", "skin_polygons",
           "FACE_FRACTION", "MATERIALS", "MATERIAL_INDEX", "Material", "polygon_materials", "uv_raster", "prepare"]
