"""Convert the official ICT-FaceKit `FaceXModel/` folder into a FaceSpace model."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..core.errors import MissingSourceFileError
from .morphable import FORMAT_NAME, FORMAT_VERSION, MODEL_ID, MorphableModel
from .obj_io import read_obj, read_positions

MANIFEST_PATH = Path(__file__).resolve().parents[1] / "data" / "ict_facekit_files.json"

# Upstream README, "Face Model Topology": [start, stop) vertex and polygon ranges.
REGIONS = [
    ("face", (0, 9409), (0, 9230)),
    ("head_and_neck", (9409, 11248), (9230, 11144)),
    ("mouth_socket", (11248, 13294), (11144, 13226)),
    ("eye_socket_left", (13294, 13678), (13226, 13630)),
    ("eye_socket_right", (13678, 14062), (13630, 14034)),
    ("gums_and_tongue", (14062, 17039), (14034, 17006)),
    ("teeth", (17039, 21451), (17006, 21496)),
    ("eyeball_left", (21451, 23021), (21496, 23094)),
    ("eyeball_right", (23021, 24591), (23094, 24692)),
    ("lacrimal_fluid_left", (24591, 24795), (24692, 24855)),
    ("lacrimal_fluid_right", (24795, 24999), (24855, 25018)),
    ("eye_blend_left", (24999, 25023), (25018, 25033)),
    ("eye_blend_right", (25023, 25047), (25033, 25048)),
    ("eye_occlusion_left", (25047, 25199), (25048, 25176)),
    ("eye_occlusion_right", (25199, 25351), (25176, 25304)),
    ("eyelashes_left", (25351, 26035), (25304, 25844)),
    ("eyelashes_right", (26035, 26719), (25844, 26384)),
]
# Left/right pairs are contiguous, so each pair is also one region.
REGION_GROUPS = ["eye_socket", "eyeball", "lacrimal_fluid", "eye_blend", "eye_occlusion", "eyelashes"]

# Upstream README, "Facial Landmarks" (the 68 are also in vertex_indices.json).
JAW_RIGHT = [1278, 1272, 12, 1834, 243, 781, 2199, 1447]
JAW_LEFT = [3661, 4390, 3022, 2484, 4036, 2253, 3490, 3496]
JAW_RIGHT_EXTENDED = [1280, 1278, 1275, 1272, 1248, 12, 820, 1834, 1902, 243, 844, 781, 1673, 2199, 801, 1447, 800]
JAW_LEFT_EXTENDED = [3041, 3661, 3042, 4390, 3880, 3022, 3085, 2484, 4102, 4036, 3061, 2253, 3466, 3490, 3493, 3496, 3498]


def manifest() -> dict:
    return json.loads(MANIFEST_PATH.read_text())


def _triangulate(poly_sizes: np.ndarray, corner_verts: np.ndarray):
    """Fan-triangulate polygons (ICT has quads and triangles only)."""
    starts = np.concatenate([[0], np.cumsum(poly_sizes)[:-1]])
    tris, owner = [], []
    for k in range(1, poly_sizes.max() - 1):
        has = np.nonzero(poly_sizes > k + 1)[0]
        s = starts[has]
        tris.append(np.stack([corner_verts[s], corner_verts[s + k], corner_verts[s + k + 1]], 1))
        owner.append(has)
    tris, owner = np.concatenate(tris), np.concatenate(owner)
    order = np.argsort(owner, kind="stable")
    return tris[order].astype(np.int32), owner[order].astype(np.int32)


def _mirror_matching(pos: np.ndarray, src: np.ndarray, dst: np.ndarray, k: int = 8) -> dict:
    """Pair `src` with mirrored `dst` one-to-one, nearest pairs first.

    Plain nearest neighbours are not an involution where vertices coincide (eyelash strips,
    gums), so pairs are assigned greedily by distance, each vertex used once.
    """
    mirrored = pos[src] * np.array([-1.0, 1.0, 1.0])
    target = pos[dst]
    cand_i, cand_j, cand_d = [], [], []
    for i in range(0, len(src), 1024):
        d = ((mirrored[i:i + 1024, None, :] - target[None, :, :]) ** 2).sum(-1)
        kk = min(k, d.shape[1])
        nn = np.argpartition(d, kk - 1, axis=1)[:, :kk]
        rows = np.arange(d.shape[0])[:, None]
        cand_i.append(np.repeat(src[i:i + 1024], kk))
        cand_j.append(dst[nn].ravel())
        cand_d.append(d[rows, nn].ravel())
    ci, cj, cd = map(np.concatenate, (cand_i, cand_j, cand_d))
    self_pairing = src[0] == dst[0]
    pair: dict = {}
    for n in np.argsort(cd, kind="stable"):
        i, j = int(ci[n]), int(cj[n])
        if i in pair or j in pair:
            continue
        pair[i] = j
        pair[j] = i
    for i in src:  # leftovers (none on ICT): nearest regardless, then itself
        pair.setdefault(int(i), int(i) if self_pairing else int(dst[0]))
    return pair


def symmetry_map(pos: np.ndarray) -> np.ndarray:
    sym = np.arange(len(pos), dtype=np.int64)
    names = [r[0] for r in REGIONS]
    for name, (a, b), _ in REGIONS:
        if name.endswith("_right"):
            continue  # paired with its _left region
        partner = name[:-5] + "_right" if name.endswith("_left") else name
        pa, pb = REGIONS[names.index(partner)][1]
        for i, j in _mirror_matching(pos, np.arange(a, b), np.arange(pa, pb)).items():
            sym[i] = j
    return sym.astype(np.int32)


def find_model_folder(root: Path) -> Path:
    """Accept either the FaceXModel folder itself or a folder that contains it."""
    root = Path(root)
    for cand in (root, root / "FaceXModel"):
        if (cand / "generic_neutral_mesh.obj").is_file():
            return cand
    raise MissingSourceFileError(
        f"{root} does not contain the ICT-FaceKit FaceXModel folder (generic_neutral_mesh.obj is missing)."
    )


def convert(folder, progress=None) -> MorphableModel:
    """Read FaceXModel/ OBJ files into a MorphableModel (vertices in the source's centimetres)."""
    folder = find_model_folder(folder)
    indices = json.loads((folder / "vertex_indices.json").read_text())
    neutral = read_obj(folder / "generic_neutral_mesh.obj")
    mean = neutral.positions
    V = len(mean)

    def shape(name):
        p = folder / f"{name}.obj"
        if not p.is_file():
            raise MissingSourceFileError(f"ICT-FaceKit file {p.name} is missing from {folder}.")
        pos = read_positions(p)
        if pos.shape != (V, 3):
            raise MissingSourceFileError(f"{p.name} has {len(pos)} vertices, expected {V}: damaged file.")
        return pos - mean

    id_names = [f"identity{i:03d}" for i in range(100)]
    expr_names = list(indices["expressions"])
    deltas = []
    for i, name in enumerate(id_names + expr_names):
        deltas.append(shape(name))
        if progress:
            progress((i + 1) / (len(id_names) + len(expr_names)), f"reading {name}")
    identity = np.stack(deltas[:100]).astype(np.float32)
    expression = np.stack(deltas[100:]).astype(np.float32)
    tris, tri_poly = _triangulate(neutral.poly_sizes, neutral.corner_verts)

    ranges = [(n, v, p) for n, v, p in REGIONS]
    for g in REGION_GROUPS:
        left = next(r for r in REGIONS if r[0] == g + "_left")
        right = next(r for r in REGIONS if r[0] == g + "_right")
        ranges.append((g + "s" if g == "eye_socket" or g == "eyeball" else g,
                       (left[1][0], right[1][1]), (left[2][0], right[2][1])))

    license_file = folder.parent / "LICENSE"
    arrays = dict(
        mean=mean.astype(np.float32),
        identity_basis=identity,
        identity_std=np.ones(100, dtype=np.float32),
        expression_basis=expression,
        expression_names=np.array(expr_names),
        triangles=tris,
        triangle_polygon=tri_poly,
        poly_sizes=neutral.poly_sizes,
        corner_verts=neutral.corner_verts,
        corner_uv_index=neutral.corner_uvs,
        uvs=neutral.uvs.astype(np.float32),
        poly_materials=neutral.poly_materials,
        material_names=np.array(neutral.material_names),
        region_names=np.array([r[0] for r in ranges]),
        region_vertex_ranges=np.array([r[1] for r in ranges], dtype=np.int32),
        region_poly_ranges=np.array([r[2] for r in ranges], dtype=np.int32),
        landmarks68=np.array(indices["idx_to_landmark_verts"], dtype=np.int32),
        jaw_right=np.array(JAW_RIGHT, dtype=np.int32),
        jaw_left=np.array(JAW_LEFT, dtype=np.int32),
        jaw_right_extended=np.array(JAW_RIGHT_EXTENDED, dtype=np.int32),
        jaw_left_extended=np.array(JAW_LEFT_EXTENDED, dtype=np.int32),
        symmetry=symmetry_map(mean),
    )
    m = manifest()
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "model_id": MODEL_ID,
        "name": "ICT Face Model Light",
        "units": "cm",
        "mm_per_unit": 10.0,
        "axes": "right-handed; +y up, +z out of the face (the face looks along +z), +x is the subject's left",
        "identity_prior": "coefficients ~ N(0, 1) (upstream samples identity weights from a standard normal)",
        "expression_prior": "weights in [0, 1]",
        "source": {"repository": m["repository"], "commit": m["commit"], "folder": "FaceXModel/"},
        "licence": m["licence"],
        "licence_text": license_file.read_text() if license_file.is_file() else "",
        "counts": {"vertices": V, "polygons": int(len(neutral.poly_sizes)), "uvs": int(len(neutral.uvs)),
                   "identity": 100, "expression": len(expr_names)},
    }
    return MorphableModel(arrays, meta)
