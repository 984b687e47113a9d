"""Mix two or more heads region by region (Blanz & Vetter 1999, section 5).

Face areas are soft masks on the mean shape (vertex correspondence makes them valid on every
head): ellipsoids around landmark groups for the eyes (with brows), nose, mouth and chin/jaw,
a half-space above the brows for the upper head, and "rest" for what is left. Masks fall off
smoothly (smoothstep) across a border, and the model's inner parts follow their area:
eyeballs, lashes and eye sockets go with the eyes; teeth, gums and mouth socket with the
mouth. Per-area head weights become per-vertex weights w_h(v) = sum_k mask_k(v) W[k, h];
the mixed mesh is sum_h w_h(v) V_h(v), and its identity / expression coefficients are the
least-squares projection back into face space. Textures (baked atlases, engine.texture) mix
with per-texel weights interpolated from the vertices through the UVs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.cache import cached

AREAS = ("eyes", "nose", "mouth", "chin_jaw", "upper_head", "rest")
AREA_LABELS = {"eyes": "Eyes and brows", "nose": "Nose", "mouth": "Mouth", "chin_jaw": "Chin and jaw",
               "upper_head": "Forehead and upper head", "rest": "Rest of the head"}
# Soft border widths, cm. Wider borders stretch triangles less where heads differ a lot, but
# reach into the neighbouring areas: the nose-to-lip gap is ~1.3 cm, so the nose's is short.
AREA_BORDERS_CM = {"eyes": 2.0, "nose": 1.0, "mouth": 2.0, "chin_jaw": 3.0, "upper_head": 3.0}
EYE_PARTS = ("eye_socket_left", "eye_socket_right", "eyeball_left", "eyeball_right",
             "lacrimal_fluid_left", "lacrimal_fluid_right", "eye_blend_left", "eye_blend_right",
             "eye_occlusion_left", "eye_occlusion_right", "eyelashes_left", "eyelashes_right")
MOUTH_PARTS = ("mouth_socket", "gums_and_tongue", "teeth")
# Tikhonov weight of the identity projection (cm^2 per unit coefficient^2). Measured on a
# nose + mouth swap of two N(0,1) heads: 0 -> norm 19.3 (outside face space), RMS 1.84 mm;
# 10 -> norm 11.3, RMS 2.33 mm and visibly cleaner lips.
PROJECTION_REGULARIZATION = 10.0
PRIORITY = (1, 0, 2, 3, 4)   # nose, eyes, mouth, chin/jaw, upper head: who wins where they overlap


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _ellipsoid(P, pts, margin, border):
    """1 inside the ellipsoid fitted to the box of `pts` (+margin cm per axis), falling
    smoothly to 0 over `border` cm outside it (radial distance to its surface)."""
    lo, hi = pts.min(0), pts.max(0)
    centre, axes = (lo + hi) / 2, (hi - lo) / 2 + np.asarray(margin, dtype=np.float64)
    r = P - centre
    d = np.maximum(np.sqrt(((r / axes) ** 2).sum(-1)), 1e-12)
    outside = np.maximum(1.0 - 1.0 / d, 0.0) * np.linalg.norm(r, axis=-1)
    return 1.0 - _smoothstep(outside / border)


def _area_masks(model) -> np.ndarray:
    P = model.mean.astype(np.float64)
    L = P[model.landmarks68]
    b = AREA_BORDERS_CM
    m = np.zeros((len(P), len(AREAS)))
    eyes_r = np.concatenate([L[36:42], L[17:22]])
    eyes_l = np.concatenate([L[42:48], L[22:27]])
    m[:, 0] = np.maximum(_ellipsoid(P, eyes_r, (0.4, 0.5, 2.0), b["eyes"]),
                         _ellipsoid(P, eyes_l, (0.4, 0.5, 2.0), b["eyes"]))
    base = np.concatenate([L[30:36], L[[31, 35]] + np.array([[-0.6, 0.4, -0.3], [0.6, 0.4, -0.3]])])
    m[:, 1] = np.maximum(_ellipsoid(P, L[27:31], (0.8, 0.2, 1.2), b["nose"]),
                         _ellipsoid(P, base, (0.3, 0.1, 1.2), b["nose"]))
    m[:, 2] = _ellipsoid(P, L[48:68], (0.5, 0.3, 1.5), b["mouth"])
    jaw = np.concatenate([L[4:13], L[57:58]])
    m[:, 3] = _ellipsoid(P, jaw, (0.8, 1.5, 2.5), b["chin_jaw"]) * (1.0 - _smoothstep((P[:, 1] - L[57, 1]) / b["chin_jaw"]))
    brow_y = L[17:27, 1].max()
    m[:, 4] = _smoothstep((P[:, 1] - brow_y) / b["upper_head"])
    # inner parts go with their area (their rims lie inside its core, where the mask is 1)
    for name in EYE_PARTS:
        m[model.region_slice(name)] = np.eye(len(AREAS))[0]
    for name in MOUTH_PARTS:
        m[model.region_slice(name)] = np.eye(len(AREAS))[2]
    # layered, like paint: each area takes its mask of what the areas before it left, so the
    # first areas keep exact cores and nothing exceeds 1; "rest" takes what is left
    out = np.zeros_like(m)
    left = np.ones(len(P))
    for k in PRIORITY:
        out[:, k] = m[:, k] * left
        left = left - out[:, k]
    out[:, AREAS.index("rest")] = np.clip(left, 0.0, 1.0)
    return out


def area_masks(model) -> np.ndarray:
    """(V, len(AREAS)) soft membership of every vertex in every area; rows sum to 1."""
    return cached(model, "mix_area_masks", lambda: _area_masks(model))


def _weight_table(region_weights, n_heads: int, default=None) -> np.ndarray:
    """(len(AREAS), H) head weights per area, each row normalised to sum to 1."""
    if isinstance(region_weights, np.ndarray) and region_weights.ndim == 2:
        W = np.asarray(region_weights, dtype=np.float64)
    else:
        region_weights = dict(region_weights or {})
        unknown = set(region_weights) - set(AREAS)
        if unknown:
            raise KeyError(f"unknown areas {sorted(unknown)}; known: {', '.join(AREAS)}")
        base = np.full(n_heads, 1.0 / n_heads) if default is None else np.asarray(default, np.float64)
        W = np.stack([np.asarray(region_weights.get(a, base), dtype=np.float64) for a in AREAS])
    if W.shape != (len(AREAS), n_heads):
        raise ValueError(f"region weights must give {n_heads} weights for each of {AREAS}")
    if (W < 0).any() or (W.sum(1) <= 0).any():
        raise ValueError("region weights must be non-negative with a positive sum per area")
    return W / W.sum(1, keepdims=True)


def _snap(w):
    """Weights within rounding of 0 or 1 become exactly 0 or 1 (so one-head mixes are exact)."""
    w = np.where(np.abs(w - 1.0) < 1e-9, 1.0, w)
    return np.where(np.abs(w) < 1e-9, 0.0, w)


def vertex_weights(region_weights, n_heads: int, model, default=None) -> np.ndarray:
    """(V, H) per-vertex head weights (rows sum to 1) from per-area head weights."""
    return _snap(area_masks(model) @ _weight_table(region_weights, n_heads, default))


@dataclass
class MixResult:
    vertices: np.ndarray        # (V, 3) the exact mix, model units
    identity: np.ndarray        # (K,) least-squares identity of the mix
    expression: np.ndarray      # (E,) least-squares expression of the mix, clipped to [0, 1]
    weights: np.ndarray         # (V, H) per-vertex head weights
    projection_rms_mm: float    # RMS vertex distance between the mix and its projection
    texture: np.ndarray | None = None


def _basis_solver(model, which: str):
    def build():
        B = getattr(model, which).reshape(getattr(model, which).shape[0], -1).astype(np.float64)
        return B, np.linalg.inv(B @ B.T)
    return cached(model, f"mix_solver_{which}", build)


def project(displacement, model, which: str = "identity_basis", regularization: float = 0.0,
            prior=None) -> np.ndarray:
    """Least-squares coefficients of a (V, 3) displacement from the mean in a basis.

    regularization > 0 adds lam * ||c - prior||^2 (Tikhonov): a region mix is not exactly
    in face space, and pure least squares fits it with implausibly large coefficients."""
    B, Ginv = _basis_solver(model, which)
    rhs = B @ np.asarray(displacement, np.float64).reshape(-1)
    if regularization <= 0:
        return Ginv @ rhs
    G = B @ B.T
    prior = np.zeros(len(G)) if prior is None else np.asarray(prior, np.float64)
    return np.linalg.solve(G + regularization * np.eye(len(G)), rhs + regularization * prior)


def mix_heads(identities, region_weights, model, expressions=None, textures=None,
              default=None, regularization: float = PROJECTION_REGULARIZATION) -> MixResult:
    """Mix H heads: identities (H, K), per-area weights {area: H weights} (or (6, H) array).

    Areas not named take `default` (H weights; equal by default). expressions (H, E) optional;
    textures: optional list of H baked atlases (S, S, 3) uint8 of equal size.
    The identity projection is pulled (regularization; 0 = plain least squares) towards the
    vertex-averaged blend of the input identities, so a one-head mix projects exactly.
    """
    A = np.atleast_2d(np.asarray(identities, dtype=np.float64))
    H = A.shape[0]
    X = np.zeros((H, model.n_expression)) if expressions is None else np.atleast_2d(np.asarray(expressions, np.float64))
    W = _weight_table(region_weights, H, default)
    w = _snap(area_masks(model) @ W)                                        # (V, H)
    mix = lambda fields: sum(w[:, h:h + 1] * f for h, f in enumerate(fields))
    vertices = mix([model.vertices(A[h], X[h]).astype(np.float64) for h in range(H)])
    # identity and expression parts mixed separately, so neither absorbs the other
    V = model.n_vertices
    Bi = _basis_solver(model, "identity_basis")[0]
    shape = mix([(A[h] @ Bi).reshape(V, 3) for h in range(H)])
    identity = project(shape, model, "identity_basis", regularization, prior=w.mean(0) @ A)
    expression = np.zeros(model.n_expression)
    if expressions is not None:
        Be = _basis_solver(model, "expression_basis")[0]
        expr_disp = mix([(X[h] @ Be).reshape(V, 3) for h in range(H)])
        expression = np.clip(project(expr_disp, model, "expression_basis"), 0.0, 1.0)
    fitted = model.vertices(identity, expression).astype(np.float64)
    rms = float(np.sqrt(((fitted - vertices) ** 2).sum(-1).mean()) * model.mm_per_unit)
    texture = None if textures is None else mix_textures(textures, w, W, model)
    return MixResult(vertices, identity, expression, w, rms, texture)


def mix_textures(textures, weights, W, model) -> np.ndarray:
    """Blend baked atlases with per-texel weights from the per-vertex weights (V, H).

    Texels no skin triangle covers take the "rest" area's head weights.
    """
    T = np.stack([np.asarray(t) for t in textures]).astype(np.float64)       # (H, S, S, C)
    H, S = T.shape[0], T.shape[1]
    if T.shape[1] != T.shape[2] or len(weights[0]) != H:
        raise ValueError("textures must be H square images of one size")
    # lazy: the add-on imports engine.editing while it registers, before torch may exist
    from ..texture import uv_raster  # the shared atlas rasterisation (cached per model)
    r = uv_raster(model, S)
    tw = np.tile(W[AREAS.index("rest")], (S * S, 1))                        # (S*S, H)
    verts, bary = r.verts.numpy(), r.bary.numpy().astype(np.float64)
    tw[r.texel.numpy()] = (bary[..., None] * weights[verts]).sum(1)
    tw = _snap(tw / tw.sum(1, keepdims=True)).reshape(S, S, H)
    out = (tw[..., None] * T.transpose(1, 2, 0, 3)).sum(2)                  # (S, S, C)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
