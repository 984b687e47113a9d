"""Several photos of one person, one fit: a shared identity, and a camera (pose, focal
length) and expression per photo. Blanz & Vetter's point: one view leaves the depth of the
nose, the jaw and the profile ambiguous; other views pin them down.

Parameter vector: [ identity (K) | per view: rotation (3) translation (3) log focal (1)
expression (E) ]. The energy is the sum of the photos' single-photo energies (fit/energy.py),
each with its own identity prior: the detector's errors on one person are correlated from
photo to photo, so more photos are not independent evidence (dividing the prior among the
views made two 3-photo heads of one person agree worse than single-photo heads: 2.69 vs
2.43 mm on the shared sets; kept whole, 1.57 mm; docs/reconstruction.md). The views'
Gauss-Newton systems are added into one and solved by the same LM step (fit/lm.py)."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from ..core.errors import Cancelled
from ..landmarks.detector import detector_basis, detector_weights
from .contour import jaw_contour
from .energy import FitEnergy
from .lm import LevenbergMarquardt, bound_free
from .result import FitResult
from .settings import FitSettings
from .solver import _threads
from .state import COEFFS, state_from


@dataclass
class View:
    points: np.ndarray        # (478, 2) detector points, px
    image_size: tuple         # (w, h)
    jaw: np.ndarray | None    # (17, 2) jaw targets of the sliding contour, or None
    start: FitResult          # the photo's own fit: where its camera and expression start


@dataclass
class MultiViewResult:
    identity: np.ndarray      # (K,) shared
    views: list               # FitResult per view (its identity is the shared one)
    iterations: int
    seconds: float


class _JointProblem:
    """The views' systems added into one over the shared identity (fit/lm.py's interface)."""

    def __init__(self, energies, states, n_id, n_ex):
        self.energies, self.states = energies, states
        self.K, self.E = n_id, n_ex
        self.B = COEFFS + n_ex          # per-view block: camera (7) + expression
        self.D = n_id + len(states) * self.B
        dev = states[0].c.device
        ar = lambda n: torch.arange(n, device=dev)
        # view v's local parameter order (camera, identity, expression) -> the global vector
        self.index = [torch.cat([self.base(v) + ar(COEFFS), ar(n_id), self.base(v) + COEFFS + ar(n_ex)])
                      for v in range(len(states))]

    def base(self, v) -> int:
        return self.K + v * self.B

    def system(self):
        n = self.K + self.E
        s0 = self.states[0]
        H = torch.zeros(self.D, self.D, dtype=s0.c.dtype, device=s0.c.device)
        g = torch.zeros(self.D, dtype=s0.c.dtype, device=s0.c.device)
        E = 0.0
        for en, st, idx in zip(self.energies, self.states, self.index):
            Ev, Hv, gv = en.system(st, n)
            H[idx[:, None], idx[None, :]] += Hv
            g[idx] += gv
            E += Ev
        return E, H, g

    def energy(self) -> float:
        n = self.K + self.E
        return sum(en.system(st, n, need_jac=False)[0] for en, st in zip(self.energies, self.states))

    def free(self, g):
        mask = torch.ones(self.D, dtype=torch.bool, device=g.device)
        for v, st in enumerate(self.states):
            ex = slice(self.base(v) + COEFFS, self.base(v) + self.B)
            mask[ex] = bound_free(st.c[self.K:], g[ex])
        return mask

    def apply(self, d) -> None:
        for st, idx in zip(self.states, self.index):
            st.apply(d[idx], self.K + self.E, self.K)

    def snapshot(self):
        return [s.copy() for s in self.states]

    def restore(self, saved) -> None:
        for st, sv in zip(self.states, saved):
            st.R, st.t, st.logf, st.c = sv.R.clone(), sv.t.clone(), sv.logf, sv.c.clone()


def fit_views(model, views: list, settings: FitSettings | None = None, device="cpu", cancel=None) -> MultiViewResult:
    """Fit one identity to several photos' detector points, each photo with its own camera
    and expression, starting from each photo's own fit and their mean identity."""
    device = torch.device(device)
    with _threads(device):
        return _fit_views(model, views, settings or FitSettings(), device, cancel)


def _fit_views(model, views, st, device, cancel):
    t0 = time.perf_counter()
    dtype = torch.float32 if device.type == "mps" else torch.float64
    n_id, n_ex = model.n_identity, model.n_expression
    basis = detector_basis(model)
    identity0 = np.mean([np.asarray(v.start.identity, dtype=np.float64) for v in views], 0)
    energies, states = [], []
    for v in views:
        pts = np.asarray(v.points, dtype=np.float64)
        weights = detector_weights(len(pts), st.face_oval_weight, st.landmark68_weight)
        contour = None if v.jaw is None else jaw_contour(model, v.jaw)
        energies.append(FitEnergy(model, pts, basis, weights, contour, st, v.image_size, device, dtype))
        cam = v.start.camera
        coeffs = np.concatenate([identity0, np.clip(np.asarray(v.start.expression, dtype=np.float64), 0, 1)])
        states.append(state_from(cam.rotation, cam.translation, cam.focal, coeffs, device, dtype))
    problem = _JointProblem(energies, states, n_id, n_ex)
    lm = LevenbergMarquardt()
    _, n_full, reselect = st.iterations
    history, iterations = [], 0
    for i in range(n_full):
        if cancel is not None and cancel.is_set():
            raise Cancelled("Reconstruction cancelled.")
        if i % reselect == 0:
            for en, s in zip(energies, states):
                en.reselect_contour(s)
        E_before = lm.energy_prev
        history.append(("joint", lm.step(problem)))
        iterations = i + 1
        if i > 8 and E_before is not None and abs(E_before - history[-1][1]) < 1e-6 * max(abs(E_before), 1.0):
            break
    identity = states[0].c[:n_id].cpu().numpy().astype(np.float32)
    out = []
    for v, en, s in zip(views, energies, states):
        r, _ = en.main.evaluate(s, en.cxy, False, 0)
        cres = None
        if en.contour_problem is not None:
            rc, _ = en.contour_problem.evaluate(s, en.cxy, False, 0)
            cres = rc.norm(dim=-1).cpu().numpy()
        out.append(FitResult(identity=identity, expression=s.c[n_id:].cpu().numpy().astype(np.float32),
                             camera=s.camera(v.image_size), residual_px=r.norm(dim=-1).cpu().numpy(),
                             contour_residual_px=cres, contour_vertices=en.contour_ids,
                             robust_weights=en.robust_weights(r).cpu().numpy(), iterations=iterations,
                             path=v.start.path + "+joint", seconds=0.0, history=[]))
    secs = time.perf_counter() - t0
    for r in out:
        r.seconds = secs
    return MultiViewResult(identity, out, iterations, secs)
