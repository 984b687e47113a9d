"""Landmark fitting: perspective camera, head pose, identity and expression from 2D points.

Why Gauss-Newton on the landmark points: the model is linear in its 153 coefficients and
the camera has 7 parameters (rotation, translation, log focal), so the whole problem is a
~160-parameter nonlinear least squares on ~500 points. An analytic Jacobian and a damped
Gauss-Newton (Levenberg-Marquardt) step converge in a few dozen iterations, in
milliseconds, on any torch device. No dense rendering is needed for the default path.

Model (OpenCV camera, see docs/architecture.md):
    X_i = mean_i + sum_k c_k B_ki          (model space, cm; c = [identity, expression])
    Y_i = R X_i + t                        (camera space, cm)
    u_i = f Y_ix / Y_iz + cx,  v_i = f Y_iy / Y_iz + cy,  (cx, cy) = image centre
Energy (pixels normalised by the face size s so the weights do not depend on resolution):
    sum_i w_i rho(|u_i - p_i| / (sigma s))  +  lambda_id/2 |alpha|^2  +  lambda_ex/2 |e|^2
    + lambda_l1 sum e  +  (log f - log f0)^2 / (2 sigma_f^2),    0 <= e <= 1
rho is Geman-McClure, minimised by iteratively reweighted least squares. Expressions stay in
[0, 1] by an active-set projection (bound variables pushed outwards are frozen).
Coarse to fine: rigid + focal on the mean shape first, then everything. A trusted
initialisation (the landmark regressor's, whose pose is within a few degrees) skips the rigid
stage: that is where its time saving comes from (docs/benchmarks.md, Regression).
The jaw contour is a sliding correspondence: a callback re-selects, every few iterations,
which model vertices lie on the silhouette for the current pose and shape.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

# Settings per quality level: (rigid iterations, full iterations, contour reselect period).
_ITERATIONS = {"fast": (8, 12, 4), "balanced": (10, 25, 5), "high": (15, 60, 5)}


@dataclass
class FitSettings:
    """Weights of the energy above. Defaults were set on synthetic and real photos (docs/reconstruction.md)."""
    sigma: float = 0.02          # landmark noise, fraction of face size (px / s)
    robust_scale: float = 2.5    # Geman-McClure scale, in sigmas (5% of the face size)
    lambda_identity: float = 6.0  # strong: detector errors are correlated (see docs)
    lambda_expression: float = 0.5
    lambda_l1: float = 2.0       # expression sparsity
    focal_sigma: float = 0.05    # prior width of log focal: landmarks barely constrain it
    focal_prior: float = 1.4     # f0 = focal_prior * max(w, h): a 50 mm-equivalent lens
    contour_weight: float = 4.0  # per contour point, relative to one detector point
    trust_init_sigmas: float = 2.5  # an init whose median point residual is below this (in sigmas)
    #                                 starts the full fit directly; otherwise it competes with
    #                                 the closed-form start through the rigid stage
    quality: str = "balanced"


@dataclass
class PointBasis:
    """A linear map from coefficients to 3D points: X = mean + coeffs @ basis."""
    mean: np.ndarray   # (N, 3)
    basis: np.ndarray  # (C, N, 3), C = n_identity + n_expression

    @classmethod
    def from_vertices(cls, model, vertex_ids) -> "PointBasis":
        ids = np.asarray(vertex_ids, dtype=np.int64)
        basis = np.concatenate([model.identity_basis[:, ids], model.expression_basis[:, ids]], 0)
        return cls(model.mean[ids].astype(np.float64), basis.astype(np.float64))

    @classmethod
    def from_barycentric(cls, model, tri_vertices, bary) -> "PointBasis":
        """Points on triangles: tri_vertices (N, 3) vertex ids, bary (N, 3) weights."""
        tv = np.asarray(tri_vertices, dtype=np.int64)
        w = np.asarray(bary, dtype=np.float64)
        def apply(a):  # (..., V, 3) -> (..., N, 3)
            return np.einsum("...nkd,nk->...nd", a[..., tv, :].astype(np.float64), w)
        basis = np.concatenate([apply(model.identity_basis), apply(model.expression_basis)], 0)
        return cls(apply(model.mean), basis)

    def concat(self, other: "PointBasis") -> "PointBasis":
        return PointBasis(np.concatenate([self.mean, other.mean], 0),
                          np.concatenate([self.basis, other.basis], 1))


@dataclass
class Camera:
    rotation: np.ndarray     # (3, 3) model -> camera
    translation: np.ndarray  # (3,) cm
    focal: float             # px
    image_size: tuple        # (w, h)

    @property
    def K(self) -> np.ndarray:
        w, h = self.image_size
        return np.array([[self.focal, 0, (w - 1) / 2], [0, self.focal, (h - 1) / 2], [0, 0, 1]])

    @property
    def world_to_camera(self) -> np.ndarray:
        m = np.eye(4)
        m[:3, :3] = self.rotation
        m[:3, 3] = self.translation
        return m

    def project(self, points: np.ndarray) -> np.ndarray:
        y = points @ self.rotation.T + self.translation
        return y[..., :2] / y[..., 2:3] * self.focal + (np.asarray(self.image_size) - 1) / 2


@dataclass
class Contour:
    """Sliding jaw contour: 2D targets and a selector of the model vertices on the silhouette.

    `select(vertices_cam (V, 3) numpy, K) -> vertex ids (J,)` is called with the current
    fit; `targets` (J, 2) pixels are the detector's jaw points.
    """
    targets: np.ndarray
    select: Callable
    weight: float | None = None
    needed: np.ndarray | None = None  # vertex ids `select` reads; others are left at zero (speed)


@dataclass
class FitResult:
    identity: np.ndarray
    expression: np.ndarray
    camera: Camera
    residual_px: np.ndarray       # (N,) per detector point, at the end
    contour_residual_px: np.ndarray | None
    contour_vertices: np.ndarray | None  # (J,) silhouette vertex ids; (J, k) when the contour selects blends
    robust_weights: np.ndarray    # (N,) final IRLS weights (small = treated as outlier)
    iterations: int
    path: str
    seconds: float
    history: list = field(default_factory=list)


# ---- rotations --------------------------------------------------------------------------
def rodrigues(w: np.ndarray) -> np.ndarray:
    th = float(np.linalg.norm(w))
    if th < 1e-12:
        return np.eye(3)
    k = w / th
    Kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + math.sin(th) * Kx + (1 - math.cos(th)) * Kx @ Kx


def rotation_angles(R: np.ndarray) -> dict:
    """Yaw/pitch/roll (degrees) of the head relative to a frontal pose (R = rot_x(180))."""
    F = np.diag([1.0, -1.0, -1.0])  # frontal: model +z -> camera -z
    H = F @ R  # the head's own rotation in model axes
    yaw = math.degrees(math.atan2(H[0, 2], H[2, 2]))
    pitch = math.degrees(math.asin(max(-1.0, min(1.0, -H[1, 2]))))
    roll = math.degrees(math.atan2(H[1, 0], H[1, 1]))
    return {"yaw": yaw, "pitch": pitch, "roll": roll}


def _orthonormalize(M: np.ndarray) -> np.ndarray:
    U, _, Vt = np.linalg.svd(M)
    R = U @ Vt
    if np.linalg.det(R) < 0:
        U[:, -1] *= -1
        R = U @ Vt
    return R


# ---- initialisation ---------------------------------------------------------------------
def rigid_init(X: np.ndarray, p: np.ndarray, image_size, focal: float, weights=None) -> Camera:
    """Closed form: scaled-orthographic (affine) camera from 3D-2D pairs, then perspective depth."""
    w, h = image_size
    c = (np.array([w, h], dtype=np.float64) - 1) / 2
    wt = np.ones(len(X)) if weights is None else np.asarray(weights, dtype=np.float64)
    Xm = (X * wt[:, None]).sum(0) / wt.sum()
    pm = (p * wt[:, None]).sum(0) / wt.sum()
    A = (X - Xm) * np.sqrt(wt)[:, None]
    b = (p - pm) * np.sqrt(wt)[:, None]
    P, *_ = np.linalg.lstsq(A, b, rcond=None)  # (3, 2): b ~ A P
    r1, r2 = P[:, 0], P[:, 1]
    s = (np.linalg.norm(r1) + np.linalg.norm(r2)) / 2
    R = _orthonormalize(np.stack([r1, r2, np.cross(r1 / s, r2 / s) * s]) / s)
    tz = focal / s
    # the centroid projects to pm: (R Xm + t)_xy * f / tz + c = pm
    txy = (pm - c) * tz / focal - (R @ Xm)[:2]
    t = np.array([txy[0], txy[1], tz - (R @ Xm)[2]])
    return Camera(R, t, focal, (w, h))


def _init_trusted(state, problem, cxy, sig_px, max_sigmas) -> bool:
    """True when the start's median landmark residual is within `max_sigmas` noise levels.
    A regressor guess in the wrong basin (e.g. mirrored yaw) is off by many sigmas."""
    import torch
    r, _ = problem.evaluate(state["R"], state["t"], math.exp(state["logf"]), state["c"], cxy, False, 0)
    return float(torch.median(r.norm(dim=-1))) <= max_sigmas * sig_px


# ---- the solver -------------------------------------------------------------------------
class _Problem:
    """Residuals and analytic Jacobian of the projection, in torch on one device."""

    def __init__(self, basis: PointBasis, targets, weights, torch, device, dtype):
        self.torch = torch
        self.t = lambda a: torch.as_tensor(np.asarray(a), device=device, dtype=dtype)
        self.mean = self.t(basis.mean)
        C, N, _ = basis.basis.shape
        self.basis = self.t(basis.basis.reshape(C, N * 3))
        self.C, self.N = C, N
        self.targets = self.t(targets)
        self.weights = self.t(weights)

    def evaluate(self, R, t, f, c, cxy, need_jac: bool, n_coeff: int):
        torch = self.torch
        X = self.mean + (c @ self.basis).reshape(self.N, 3)
        Xr = X @ R.T
        Y = Xr + t
        z = Y[:, 2:3]
        uv = f * Y[:, :2] / z + cxy
        r = uv - self.targets  # (N, 2)
        if not need_jac:
            return r, None
        N = self.N
        dUdY = torch.zeros(N, 2, 3, dtype=Y.dtype, device=Y.device)
        dUdY[:, 0, 0] = f / z[:, 0]
        dUdY[:, 1, 1] = f / z[:, 0]
        dUdY[:, :, 2] = -f * Y[:, :2] / z**2
        # rotation update R <- exp([w]x) R: dY/dw = -[Xr]x
        skew = torch.zeros(N, 3, 3, dtype=Y.dtype, device=Y.device)
        skew[:, 0, 1], skew[:, 0, 2] = Xr[:, 2], -Xr[:, 1]
        skew[:, 1, 0], skew[:, 1, 2] = -Xr[:, 2], Xr[:, 0]
        skew[:, 2, 0], skew[:, 2, 1] = Xr[:, 1], -Xr[:, 0]
        J_w = dUdY @ skew
        J_t = dUdY
        J_f = (uv - cxy).unsqueeze(-1)
        parts = [J_w, J_t, J_f]
        if n_coeff:
            B = self.basis[:n_coeff].reshape(n_coeff, N, 3)
            dYdc = torch.einsum("ij,knj->nik", R, B)  # (N, 3, C)
            parts.append(dUdY @ dYdc)
        return r, torch.cat(parts, -1)  # (N, 2), (N, 2, D)


class _threads:
    """Small dense problems run fastest single-threaded (no spin-waiting on busy cores)."""

    def __init__(self, device):
        self.cpu = device.type == "cpu"

    def __enter__(self):
        import torch
        if self.cpu:
            self.n = torch.get_num_threads()
            torch.set_num_threads(1)

    def __exit__(self, *exc):
        import torch
        if self.cpu:
            torch.set_num_threads(self.n)


def fit_landmarks(model, targets: np.ndarray, basis: PointBasis, image_size, *,
                  weights: np.ndarray | None = None, contour: Contour | None = None,
                  init: dict | None = None, settings: FitSettings | None = None,
                  device="cpu", cancel=None) -> FitResult:
    """Fit camera, pose, identity and expression so `basis` projects onto `targets` (N, 2) px.

    init: optional dict(rotation, translation, focal, identity, expression[, source]) (e.g. from
    the landmark regressor); otherwise a closed-form rigid initialisation on the mean shape.
    FitResult.path is "<source>+fit" when the fit continued from it (source default
    "landmark-regressor"), "fit" when the closed-form start won.
    """
    import torch
    with _threads(torch.device(device)):
        return _fit(model, targets, basis, image_size, weights, contour, init, settings, device, cancel)


def _fit(model, targets, basis, image_size, weights, contour, init, settings, device, cancel):
    import torch
    t0 = time.perf_counter()
    st = settings or FitSettings()
    n_rigid, n_full, reselect = _ITERATIONS.get(st.quality, _ITERATIONS["balanced"])
    device = torch.device(device)
    dtype = torch.float32 if device.type == "mps" else torch.float64
    tt = lambda a: torch.as_tensor(np.asarray(a), device=device, dtype=dtype)
    w_img, h_img = image_size
    targets = np.asarray(targets, dtype=np.float64)
    N = len(targets)
    pw = np.ones(N) if weights is None else np.asarray(weights, dtype=np.float64)
    n_id, n_ex = model.n_identity, model.n_expression
    C = n_id + n_ex

    # face size s: sqrt of the landmarks' bounding-box area; residuals are in units of sigma*s
    lo, hi = targets.min(0), targets.max(0)
    s = float(np.sqrt(max((hi - lo).prod(), 1.0)))
    sig_px = st.sigma * s
    f0 = st.focal_prior * max(w_img, h_img)
    cxy = tt((np.array([w_img, h_img], dtype=np.float64) - 1) / 2)

    # candidate starts: the closed-form rigid pose on the mean shape, and the regressor's guess
    cam = rigid_init(basis.mean, targets, image_size, f0, pw)
    starts = [("fit", {"R": tt(cam.rotation), "t": tt(cam.translation), "logf": math.log(f0), "c": tt(np.zeros(C))})]
    if init is not None:
        coeffs = np.concatenate([np.asarray(init.get("identity", np.zeros(n_id)), dtype=np.float64),
                                 np.clip(np.asarray(init.get("expression", np.zeros(n_ex)), dtype=np.float64), 0, 1)])
        starts.insert(0, (f"{init.get('source', 'landmark-regressor')}+fit", {
            "R": tt(np.asarray(init["rotation"], dtype=np.float64)),
            "t": tt(np.asarray(init["translation"], dtype=np.float64)),
            "logf": math.log(float(init.get("focal", f0))), "c": tt(coeffs)}))
    path, state = starts[0][0], dict(starts[0][1])
    main = _Problem(basis, targets, pw, torch, device, dtype)
    lam_diag = tt(np.concatenate([np.full(n_id, st.lambda_identity), np.full(n_ex, st.lambda_expression)]))
    l1 = tt(np.concatenate([np.zeros(n_id), np.full(n_ex, st.lambda_l1)]))
    contour_prob, contour_ids = None, None
    sub_basis = PointBasis.from_vertices(model, contour.needed) if contour is not None and contour.needed is not None else None
    cw = st.contour_weight if contour is None or contour.weight is None else contour.weight

    def reselect_contour():
        nonlocal contour_prob, contour_ids
        if contour is None:
            return
        c_np = state["c"].cpu().numpy()
        if contour.needed is not None:
            verts = np.zeros((model.n_vertices, 3))
            verts[contour.needed] = sub_basis.mean + np.tensordot(c_np, sub_basis.basis, 1)
        else:
            verts = model.vertices(c_np[:n_id], c_np[n_id:]).astype(np.float64)
        Rn, tn = state["R"].cpu().numpy(), state["t"].cpu().numpy()
        cam = Camera(Rn, tn, math.exp(state["logf"]), image_size)
        sel = contour.select(verts @ Rn.T + tn, cam.K)
        if isinstance(sel, tuple):  # blends: (ids (J, k), weights (J, k)) of silhouette vertices
            contour_ids = np.asarray(sel[0], dtype=np.int64)
            cb = PointBasis.from_barycentric(model, contour_ids, sel[1])
        else:
            contour_ids = np.asarray(sel, dtype=np.int64)
            cb = PointBasis.from_vertices(model, contour_ids)
        contour_prob = _Problem(cb, contour.targets, np.full(len(contour_ids), cw), torch, device, dtype)

    def robust_w(r):
        # Geman-McClure IRLS weight on the per-point residual norm, in sigmas
        e2 = (r**2).sum(-1) / sig_px**2
        k2 = st.robust_scale**2
        return (k2 / (k2 + e2))**2

    history = []
    mu = 1e-3
    it_total = 0
    energy_prev = None

    def energy_and_system(n_coeff, need_jac=True):
        R_, t_, f_ = state["R"], state["t"], math.exp(state["logf"])
        c_ = state["c"]
        rows, jacs, ws = [], [], []
        for prob in (main, contour_prob):
            if prob is None:
                continue
            r, J = prob.evaluate(R_, t_, f_, c_, cxy, need_jac, n_coeff)
            rows.append(r); jacs.append(J); ws.append(prob.weights * robust_w(r))
        r = torch.cat(rows, 0)
        W = torch.cat(ws, 0) / sig_px**2
        cn = c_[:n_coeff]
        logf_d = state["logf"] - math.log(f0)
        # IRLS surrogate (each residual at its own weight): the step's acceptance test. Measured
        # against the Geman-McClure energy itself it fits as well (NME, synthetic error) and
        # ranks same-person shapes slightly worse (AUC 0.81 vs 0.83), so it stays
        E = 0.5 * (W * (r**2).sum(-1)).sum() + 0.5 * (lam_diag[:n_coeff] * cn**2).sum() \
            + (l1[:n_coeff] * cn).sum() + 0.5 * logf_d**2 / st.focal_sigma**2
        if not need_jac:
            return float(E), None, None
        J = torch.cat(jacs, 0)  # (M, 2, D)
        D = J.shape[-1]
        Jw = J * W.sqrt()[:, None, None]
        Jf = Jw.reshape(-1, D)
        H = Jf.T @ Jf
        g = Jf.T @ (r * W.sqrt()[:, None]).reshape(-1)
        H[6, 6] += 1 / st.focal_sigma**2
        g[6] += logf_d / st.focal_sigma**2
        if n_coeff:
            H[7:, 7:] += torch.diag(lam_diag[:n_coeff])
            g[7:] += lam_diag[:n_coeff] * cn + l1[:n_coeff]
        return float(E), H, g

    def robust_energy():
        """The Geman-McClure energy itself, to compare starts. (The IRLS surrogate above weighs
        each residual by its own weight, so a start with every point far off scores near zero.)"""
        c_ = state["c"]
        k2 = st.robust_scale**2
        E = 0.0
        for prob in (main, contour_prob):
            if prob is not None:
                r, _ = prob.evaluate(state["R"], state["t"], math.exp(state["logf"]), c_, cxy, False, 0)
                e2 = (r**2).sum(-1) / sig_px**2
                E += 0.5 * float((prob.weights * k2 * e2 / (k2 + e2)).sum())
        logf_d = state["logf"] - math.log(f0)
        return E + float(0.5 * (lam_diag * c_**2).sum() + (l1 * c_).sum()) + 0.5 * logf_d**2 / st.focal_sigma**2

    def step(n_coeff):
        nonlocal mu, energy_prev
        E, H, g = energy_and_system(n_coeff)
        D = H.shape[0]
        free = torch.ones(D, dtype=torch.bool, device=device)
        if n_coeff > n_id:  # expression bounds: freeze variables at a bound that want to leave
            e = state["c"][n_id:n_coeff]
            ge = g[7 + n_id:7 + n_coeff]
            free[7 + n_id:7 + n_coeff] = ~(((e <= 0) & (ge > 0)) | ((e >= 1) & (ge < 0)))
        idx = torch.nonzero(free).squeeze(1)
        Hf, gf = H[idx][:, idx], g[idx]
        saved = {k: (v.clone() if torch.is_tensor(v) else v) for k, v in state.items()}
        for _ in range(6):
            A = Hf + mu * torch.diag(torch.diagonal(Hf).clamp_min(1e-9))
            d = torch.zeros(D, dtype=dtype, device=device)
            d[idx] = -torch.linalg.solve(A, gf)
            _apply(d, n_coeff)
            E_new, _, _ = energy_and_system(n_coeff, need_jac=False)
            if E_new <= E:
                mu = max(mu / 3, 1e-7)
                energy_prev = E_new
                return E_new
            state.update({k: (v.clone() if torch.is_tensor(v) else v) for k, v in saved.items()})
            mu *= 10
        return E

    def _apply(d, n_coeff):
        dn = d.cpu().numpy()
        Rn = rodrigues(dn[:3]) @ state["R"].cpu().numpy()
        state["R"] = tt(Rn)
        state["t"] = state["t"] + d[3:6]
        state["logf"] = state["logf"] + float(dn[6])
        if n_coeff:
            c = state["c"].clone()
            c[:n_coeff] = c[:n_coeff] + d[7:7 + n_coeff]
            c[n_id:] = c[n_id:].clamp(0, 1)
            state["c"] = c

    def check_cancel():
        if cancel is not None and cancel.is_set():
            from .errors import Cancelled
            raise Cancelled("Reconstruction cancelled.")

    if init is not None and _init_trusted(state, main, cxy, sig_px, st.trust_init_sigmas):
        starts = []        # already in the right basin: go straight to the full fit
        best = (None, path, dict(state))
    else:
        best = None
    # coarse: rigid + focal on the start's shape; with two starts keep the one that ends lower
    # (guards against a regressor guess in the wrong basin)
    for name, start in starts:
        state.clear()
        state.update(start)
        mu = 1e-3
        reselect_contour()
        E = None
        for i in range(n_rigid):
            check_cancel()
            if i and i % reselect == 0:
                reselect_contour()
            E = step(0)
            history.append(("rigid", E))
            it_total += 1
        reselect_contour()
        E = robust_energy()
        if best is None or E < best[0]:
            best = (E, name, dict(state))
    _, path, chosen = best
    state.clear()
    state.update(chosen)
    # fine: everything
    mu = 1e-3
    for i in range(n_full):
        check_cancel()
        if i % reselect == 0:
            reselect_contour()
        E_before = energy_prev
        history.append(("full", step(C)))
        it_total += 1
        if i > 8 and E_before is not None and abs(E_before - history[-1][1]) < 1e-6 * max(abs(E_before), 1.0):
            break

    R_, t_, f_, c_ = state["R"], state["t"], math.exp(state["logf"]), state["c"]
    r, _ = main.evaluate(R_, t_, f_, c_, cxy, False, 0)
    rw = robust_w(r)
    cres = None
    if contour_prob is not None:
        rc, _ = contour_prob.evaluate(R_, t_, f_, c_, cxy, False, 0)
        cres = rc.norm(dim=-1).cpu().numpy()
    c_np = c_.cpu().numpy()
    cam = Camera(R_.cpu().numpy(), t_.cpu().numpy(), f_, tuple(int(v) for v in image_size))
    return FitResult(
        identity=c_np[:n_id].astype(np.float32), expression=c_np[n_id:].astype(np.float32), camera=cam,
        residual_px=r.norm(dim=-1).cpu().numpy(), contour_residual_px=cres, contour_vertices=contour_ids,
        robust_weights=rw.cpu().numpy(), iterations=it_total, path=path,
        seconds=time.perf_counter() - t0, history=history)
