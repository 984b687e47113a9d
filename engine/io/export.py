"""Output files of a reconstruction: head.obj/.mtl + texture PNGs, head.glb, params.json.

`write_outputs` writes everything through io.safe_output: a staging folder beside the
destination put in place in one step, so a failure (or a kill) leaves no partial output, and
only a folder of FaceSpace's own files is ever replaced.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..model.atlas import atlas_uvs
from ..model.materials import MATERIALS, polygon_materials
from .gltf import encode_png, write_glb
from .safe_output import OutputFolder

PARAMS_FORMAT = "facespace-params"
PARAMS_VERSION = 1
TEXTURE_FILES = {"photo": "head_texture.png", "delit": "head_texture_delit.png",
                 "confidence": "head_confidence.png"}

__all__ = ["write_obj", "write_glb", "params_dict", "write_params_json", "write_outputs",
           "neutral_vertices", "encode_textures", "check_outdir", "write_atomically", "TEXTURE_FILES"]


# ---- textures -------------------------------------------------------------------------------
def _texture_arrays(textures):
    """(photo, delit, confidence) from a TextureResult, a Reconstruction or a dict; None if absent."""
    if textures is None:
        return None, None, None
    if isinstance(textures, dict):
        return textures.get("photo"), textures.get("delit"), textures.get("confidence")
    if hasattr(textures, "photo"):
        return textures.photo, textures.delit, textures.confidence
    return (getattr(textures, "texture", None), getattr(textures, "texture_delit", None),
            getattr(textures, "texture_confidence", None))


def placeholder_texture(size=8):
    """A flat skin-coloured texture when no photo texture exists (e.g. texturing was skipped)."""
    skin = MATERIALS[0].color
    return np.tile((np.asarray(skin) * 255 + 0.5).astype(np.uint8), (size, size, 1))


def _is_png_dict(t) -> bool:
    return isinstance(t, dict) and bool(t) and all(isinstance(v, bytes) for v in t.values())


def encode_textures(textures) -> dict:
    """{kind: PNG bytes} for photo, delit (the photo if absent) and confidence (if present).
    The encodes run in threads: Pillow's zlib releases the GIL."""
    from concurrent.futures import ThreadPoolExecutor
    photo, delit, conf = _texture_arrays(textures)
    photo = placeholder_texture() if photo is None else photo
    files = {"photo": photo, "delit": photo if delit is None else delit}
    if conf is not None:
        files["confidence"] = conf if isinstance(conf, bytes) else (np.clip(conf, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    with ThreadPoolExecutor(len(files)) as pool:
        futures = {k: pool.submit(lambda a: a if isinstance(a, bytes) else encode_png(a), v) for k, v in files.items()}
        return {k: f.result() for k, f in futures.items()}


def _write_pngs(outdir: Path, pngs: dict) -> dict:
    for key, data in pngs.items():
        (outdir / TEXTURE_FILES[key]).write_bytes(data)
    return {k: TEXTURE_FILES[k] for k in pngs}


# ---- OBJ ------------------------------------------------------------------------------------
def _mtl_text(photo_file: str) -> str:
    out = ["# FaceSpace head materials. skin uses the photo texture; "
           f"{TEXTURE_FILES['delit']} is the de-lit alternative."]
    for m in MATERIALS:
        out += ["", f"newmtl {m.name}", "Ka 0 0 0", "Ks 0.05 0.05 0.05",
                f"Ns {max(1.0, (1.0 - m.roughness) * 200):.0f}", f"d {m.alpha:g}", "illum 2"]
        if m.textured:
            out += ["Kd 1 1 1", f"map_Kd {photo_file}"]
        else:
            out.append("Kd {:.4f} {:.4f} {:.4f}".format(*m.color))
    return "\n".join(out) + "\n"


def write_obj(outdir, model, vertices, textures, name="head") -> dict:
    """Write `name`.obj (quads kept, per-corner UVs with seams, `usemtl` per material, model
    units = cm), `name`.mtl and the texture PNGs into `outdir`. `textures`: a TextureResult,
    a Reconstruction, {photo, delit, confidence} arrays, or `encode_textures`' PNG bytes.
    Returns {kind: file name}."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    pngs = _write_pngs(outdir, textures if _is_png_dict(textures) else encode_textures(textures))
    (outdir / f"{name}.mtl").write_text(_mtl_text(pngs["photo"]))

    v = np.asarray(vertices, dtype=np.float64)
    uv = atlas_uvs(model).astype(np.float64)
    lines = [f"# FaceSpace head ({model.id}), units: {model.units}", f"mtllib {name}.mtl", f"o {name}"]
    lines += ["v %.6f %.6f %.6f" % tuple(p) for p in v.tolist()]
    lines += ["vt %.6f %.6f" % tuple(t) for t in uv.tolist()]
    corner = [f"{a}/{b}" for a, b in zip((model.corner_verts + 1).tolist(), (model.corner_uv_index + 1).tolist())]
    mats = polygon_materials(model).tolist()
    starts, sizes = model.poly_starts.tolist(), model.poly_sizes.tolist()
    current = -1
    for p, (s, k) in enumerate(zip(starts, sizes)):
        if mats[p] != current:
            current = mats[p]
            lines.append(f"usemtl {MATERIALS[current].name}")
        lines.append("f " + " ".join(corner[s:s + k]))
    (outdir / f"{name}.obj").write_text("\n".join(lines) + "\n")
    return {"obj": f"{name}.obj", "mtl": f"{name}.mtl", **pngs}


# ---- params.json ----------------------------------------------------------------------------
def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        return float(x) if np.isfinite(x) else None
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.bool_,)):
        return bool(x)
    if x is None or isinstance(x, (str, int, bool)):
        return x
    return str(x)


def params_dict(rec, model) -> dict:
    """Everything needed to rebuild or re-fit the head, as plain JSON types."""
    names = list(getattr(rec, "expression_names", None) or model.expression_names)
    lm = rec.landmarks or {}
    extras = getattr(rec, "extras", {}) or {}
    tex = getattr(rec, "texture", None)
    return _jsonable({
        "format": PARAMS_FORMAT, "format_version": PARAMS_VERSION,
        "model": {"id": model.id, "units": model.units, "mm_per_unit": model.mm_per_unit,
                  "n_identity": model.n_identity, "n_expression": model.n_expression},
        "identity": np.asarray(rec.identity, dtype=np.float64),
        "expression": {n: float(w) for n, w in zip(names, np.asarray(rec.expression, dtype=np.float64))},
        "camera": {
            "K": np.asarray(rec.K, dtype=np.float64),
            "world_to_camera": np.asarray(rec.world_to_camera, dtype=np.float64),
            "image_size": list(rec.image_size),
            "convention": "OpenCV: K in pixels, 0-based pixel centres, x right, y down, z forward; "
                          "world_to_camera maps model space (cm) to camera space (cm)",
        },
        "faces_found": [{"box": list(f.box), "score": float(f.score)} for f in (rec.faces or [])],
        "face_index": rec.face_index,
        "landmarks68": {"fixed": lm.get("fixed68"), "contour": lm.get("contour68"), "units": "image pixels"},
        "texture": {"size": None if tex is None else int(tex.shape[0]), "files": TEXTURE_FILES,
                    "uv_layout": "face tile left 62.5%, head tile right (engine.texture.atlas)",
                    "sh_coeffs": extras.get("sh_coeffs"), "skin_tone": extras.get("skin_tone")},
        "timings": rec.timings, "quality": rec.quality, "path": rec.path,
        "warnings": list(getattr(rec, "warnings", None) or []),   # [{code, message}]
        "regressor": extras.get("regressor"),   # which regression ran (None: none), whatever start won
        **_views_dict(extras, names),
    })


def _views_dict(extras, names) -> dict:
    """Several photos (pipeline/many.py): every view's camera, pose, expression, faces and
    landmarks, which photo is the reference (the top-level camera and expression are its),
    and the photos left out. Absent for one photo, so single-photo files read as before."""
    views = extras.get("views")
    if not views:
        return {}
    out = []
    for v in views:
        fit = v["fit"]
        out.append({
            "source": v["source"],
            "camera": {"K": fit.camera.K, "world_to_camera": fit.camera.world_to_camera,
                       "image_size": list(fit.camera.image_size)},
            "pose_deg": v["pose_deg"],
            "expression": {n: float(w) for n, w in zip(names, np.asarray(fit.expression, dtype=np.float64))},
            "faces_found": [{"box": list(f.box), "score": float(f.score)} for f in v["faces"]],
            "face_index": v["face_index"],
            "landmarks68": {"fixed": v["landmarks"]["fixed68"], "contour": v["landmarks"]["contour68"],
                            "units": "image pixels"},
            "landmark_residual_px_mean": v["landmark_residual_px_mean"],
        })
    return {"views": out, "reference_view": extras.get("reference_view", 0),
            "photos_left_out": extras.get("excluded", [])}


def write_params_json(path, rec, model) -> None:
    Path(path).write_text(json.dumps(params_dict(rec, model), indent=1))


# ---- everything -----------------------------------------------------------------------------
def neutral_vertices(rec, model) -> np.ndarray:
    """The fitted shape without its expression: the glTF base mesh under the morph targets."""
    e = np.asarray(rec.expression, dtype=np.float32)
    return np.asarray(rec.vertices, dtype=np.float32) - np.tensordot(e, model.expression_basis, axes=(0, 0))


def check_outdir(outdir, overwrite=False) -> OutputFolder:
    """Every check on `outdir` that can fail (a file, not empty, foreign files, read-only):
    cheap, so call it before a reconstruction and a doomed run wastes no time."""
    return OutputFolder(outdir, overwrite).check()


def write_outputs(rec, model, outdir, overwrite=False) -> list:
    """head.obj/.mtl/PNGs, head.glb and params.json into `outdir`, all or nothing
    (io.safe_output). Returns the written files (Paths, sorted)."""
    def write(tmp):
        pngs = encode_textures(rec)  # once: the OBJ's PNG and the glb's embedded image are the same bytes
        written = write_obj(tmp, model, rec.vertices, pngs)
        write_glb(tmp / "head.glb", model, neutral_vertices(rec, model), pngs["photo"],
                  expression_names=getattr(rec, "expression_names", None), weights=rec.expression)
        write_params_json(tmp / "params.json", rec, model)
        return [*written.values(), "head.glb", "params.json"]
    return OutputFolder(outdir, overwrite).commit(write)


def write_atomically(outdir, write, overwrite=False) -> list:
    """`write(tmp)` fills a staging folder beside `outdir`, which then replaces it, all or
    nothing (io.safe_output; every file written counts as FaceSpace's). Returns the files."""
    def staged(tmp):
        write(tmp)
        return sorted(p.name for p in Path(tmp).iterdir())
    return OutputFolder(outdir, overwrite).commit(staged)
