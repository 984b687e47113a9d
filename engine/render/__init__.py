"""Differentiable rasteriser mirroring nvdiffrast's four ops (rasterize, interpolate, texture,
antialias). Portable PyTorch backend by default; nvdiffrast on CUDA when it imports.

Layout everywhere: images (B, H, W, C) with row 0 at the TOP (like photos); rast channels
(u, v, z/w, triangle_id + 1) exactly as nvdiffrast, 0 = background. See docs/renderer.md."""
from .api import antialias, available_backends, interpolate, rasterize, resolve_backend, texture, texture_construct_mip
from .camera import intrinsics, look_at, perspective, perspective_from_K, project_clip, world_to_clip

__all__ = ["rasterize", "interpolate", "texture", "texture_construct_mip", "antialias", "available_backends", "resolve_backend",
           "perspective", "perspective_from_K", "project_clip", "world_to_clip", "look_at", "intrinsics"]
