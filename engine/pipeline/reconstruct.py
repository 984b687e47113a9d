"""One photo in, a fitted and textured head out: `reconstruct(image, model, options)`.

Stages (each timed in `Reconstruction.timings`): load (detect/image_io) -> detect
(detect/faces: MTCNN, every face) -> landmarks (detect/mesh: mediapipe 478 on the chosen
face) -> fit (regress: a learned start; fit: camera, pose, identity, expression on the
landmark points) -> texture (texture: UV texture, de-lit copy, confidence). `progress(frac, message)` is called between stages; `cancel.is_set()` is
checked between stages and inside the fit and raises `Cancelled`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..core import options as option_rules
from ..core.device import pick_device
from ..core.errors import Cancelled, WeightsUnavailableError
from ..core.geometry import Camera, head_angles
from ..detect import locate_face
from ..detect.image_io import load_image
from ..fit import FitResult, FitSettings, fit_points
from ..landmarks.detector import detector_basis, detector_offsets, jaw68_vertices, landmarks68, mp_jaw_points
from ..regress import genova_available, predict_init
from ..regress.genova import load_genova_predictor
from ..texture import bake_texture
from .checks import photo_warnings
from .pose_warnings import pose_warnings


@dataclass
class ReconstructOptions:
    """Checked on creation by core.options (OptionError); the device against the machine when used."""
    face_index: int | None = None   # None: the largest face; negative is an error
    texture_size: int = 2048        # a power of two, 32..8192
    device: str = "auto"
    quality: str = "balanced"       # instant | fast | balanced | high (instant = regression_only)
    regressor: str = "auto"         # auto: Genova et al. when its checkpoint and the FaceNet weights
    #                                 are installed, else the landmark regressor; or genova | landmark | none
    regression_only: bool = False   # the regression is the answer, no fitting (quality "instant")

    def __post_init__(self):
        checked = option_rules.check_all(face_index=self.face_index, texture_size=self.texture_size,
                                         quality=self.quality, device=self.device, regressor=self.regressor,
                                         check_machine=False)
        for k, v in checked.items():
            setattr(self, k, v)
        if self.quality == "instant":
            self.regression_only = True
        elif self.regression_only:
            self.quality = "instant"

    @property
    def fit_quality(self) -> str:
        return "fast" if self.quality == "instant" else self.quality


@dataclass
class Reconstruction:
    identity: np.ndarray            # (100,) N(0,1) coefficients
    expression: np.ndarray          # (53,) in [0, 1]
    expression_names: list
    rotation: np.ndarray            # (3, 3) model -> OpenCV camera
    translation: np.ndarray         # (3,) cm
    K: np.ndarray                   # (3, 3) pixels, principal point at the image centre
    image_size: tuple               # (w, h)
    world_to_camera: np.ndarray     # (4, 4) OpenCV
    vertices: np.ndarray            # (V, 3) model space (cm), identity + expression
    texture: np.ndarray | None      # (S, S, 3) uint8 as photographed
    texture_delit: np.ndarray | None
    texture_confidence: np.ndarray | None  # (S, S) float32 in [0, 1]
    landmarks: dict                 # detected478 (478,2), fixed68 (68,2), contour68 (68,2: the model's calibrated 68) pixels
    faces: list                     # every FaceBox found
    face_index: int
    timings: dict                   # stage -> seconds, and "total"
    quality: dict
    path: str                       # which path ran: "fit", "landmark-regressor+fit", "genova+fit",
    #                                 or a regressor alone ("landmark-regressor", "genova")
    image: np.ndarray               # (H, W, 3) uint8 RGB as loaded (EXIF-rotated)
    extras: dict = field(default_factory=dict)  # e.g. texture sh_coeffs, skin_tone
    warnings: list = field(default_factory=list)  # [{code, message}]: made, but may disappoint (checks.py)

    @property
    def focal(self) -> float:
        return float(self.K[0, 0])


def regression(img, face_box, points, image_size, model, opts, device="cpu"):
    """-> prediction dict(identity, expression, rotation, translation, focal, source) or None.

    Genova et al. (identity and expression from the photo's appearance) when it is installed,
    with the landmark regressor's camera when that exists too (its pose and focal come from the
    geometry of the 478 points and are measured to help the fit, docs/benchmarks.md); else the
    landmark regressor alone. Asking for one that is missing raises WeightsUnavailableError."""
    if opts.regressor == "none":
        return None
    landmark = predict_init(points, image_size, model)   # also the camera for Genova
    if opts.regressor in ("auto", "genova"):
        if genova_available():
            g = load_genova_predictor(model, None, device).predict(img, box=face_box)
            if landmark is not None:
                g.update({k: landmark[k] for k in ("rotation", "translation", "focal")})
            return {**g, "source": "genova"}
        if opts.regressor == "genova":
            raise WeightsUnavailableError(
                "The Genova regressor is not installed: it needs a trained checkpoint and the FaceNet "
                "(vggface2) weights; see docs/regression.md. Choose the landmark regressor instead.")
    if landmark is None and opts.regressor == "landmark":
        raise WeightsUnavailableError("The landmark regressor's weights (weights/landmark_regressor.pt) are "
                                      "missing or damaged; reinstall FaceSpace.")
    return None if landmark is None else {**landmark, "source": "landmark-regressor"}


def prediction_as_fit(model, pred, points, image_size, seconds=0.0):
    """A regression used as the whole answer, shaped like a FitResult (no iterations)."""
    cam = Camera(np.asarray(pred["rotation"], dtype=np.float64), np.asarray(pred["translation"], dtype=np.float64),
                 float(pred["focal"]), tuple(int(v) for v in image_size))
    identity = np.asarray(pred["identity"], dtype=np.float32)
    expression = np.clip(np.asarray(pred["expression"], dtype=np.float32), 0.0, 1.0)
    basis = detector_basis(model)
    c = np.concatenate([identity, expression]).astype(np.float64)
    res = np.linalg.norm(cam.project(basis.points(c)) - points, axis=1)
    return FitResult(identity=identity, expression=expression, camera=cam, residual_px=res,
                     contour_residual_px=None, contour_vertices=None, robust_weights=np.ones(len(res)),
                     iterations=0, path=pred["source"], seconds=seconds)


def quality_report(fit, identity, expression, detected478) -> dict:
    res = fit.residual_px
    out = {
        "landmark_residual_px_mean": float(res.mean()),
        "landmark_residual_px_median": float(np.median(res)),
        "landmark_residual_px_p90": float(np.percentile(res, 90)),
        "outlier_landmarks": int((fit.robust_weights < 0.5).sum()),
        # coefficients are N(0, 1): the Mahalanobis norm is the Euclidean norm; ~10 is typical for 100 dims
        "identity_mahalanobis": float(np.linalg.norm(identity)),
        "identity_max_abs": float(np.abs(identity).max()),
        "expression_min": float(expression.min()),
        "expression_max": float(expression.max()),
        "expressions_active": int((expression > 0.05).sum()),
        "focal_px": float(fit.camera.focal),
        "fit_iterations": int(fit.iterations),
    }
    if fit.contour_residual_px is not None:
        out["contour_residual_px_mean"] = float(fit.contour_residual_px.mean())
    out.update({f"head_{k}_deg": v for k, v in head_angles(fit.camera.rotation).items()})
    return out


def fit_photo(img, box, points, model, opts, device, cancel=None):
    """The learned start and the landmark fit of one photo's detector points -> (init, FitResult)."""
    h, w = img.shape[:2]
    t_fit = time.perf_counter()
    init = regression(img, box, points, (w, h), model, opts, device)
    if opts.regression_only:
        if init is None:
            raise WeightsUnavailableError("Regression-only mode needs a regressor, and none is installed "
                                          "or enabled. Turn regression-only off to fit instead.")
        return init, prediction_as_fit(model, init, points, (w, h), time.perf_counter() - t_fit)
    settings = None
    if init is not None and init.get("focal"):
        # the regressor's focal length as the fit's focal prior: what removes the large-yaw
        # failures of close-up (wide-angle) photos in `bench regress`
        settings = FitSettings(quality=opts.fit_quality, focal_prior=float(init["focal"]) / max(w, h))
    return init, fit_points(model, points, (w, h), quality=opts.fit_quality, device=device, init=init,
                            cancel=cancel, settings=settings)


def _warnings(img, face, quality, fit, evidence) -> list:
    """The photo's (checks.py: small, blurred, turned, loose fit) and the pose's
    (pose_warnings.py: hidden landmarks, fallback detector, restarted fit), each code once."""
    out = photo_warnings(img, face, quality)
    codes = {w["code"] for w in out}
    return out + [w for w in pose_warnings(quality, fit, evidence) if w["code"] not in codes]


def reconstruct(image, model, options: ReconstructOptions | None = None, progress=None, cancel=None) -> Reconstruction:
    """Photo (path, bytes, PIL image or (H, W, 3) array) -> Reconstruction. Raises typed FaceSpaceErrors."""
    opts = options or ReconstructOptions()
    device = pick_device(opts.device)
    timings: dict = {}
    t_start = time.perf_counter()

    def stage(name, frac, message):
        if cancel is not None and cancel.is_set():
            raise Cancelled("Reconstruction cancelled.")
        if progress is not None:
            progress(frac, message)
        return name

    class _Timer:
        def __init__(self, name):
            self.name = name

        def __enter__(self):
            self.t = time.perf_counter()

        def __exit__(self, *exc):
            timings[self.name] = time.perf_counter() - self.t


    with _Timer(stage("load", 0.0, "Reading the photo")):
        img = load_image(image)
    h, w = img.shape[:2]
    stage("detect", 0.05, "Finding faces")
    # MTCNN, then MediaPipe's full-range detector when MTCNN or the mesh fails (detect/locate.py)
    located = locate_face(img, opts.face_index)
    timings.update(located.timings)
    faces, face, face_index = located.faces, located.face, located.face_index
    stage("landmarks", 0.25, "Placing landmarks")
    points = np.asarray(located.landmarks.points, dtype=np.float64)[:, :2]
    with _Timer(stage("fit", 0.4, "Fitting the face model")):
        init, fit = fit_photo(img, face.box, points, model, opts, device, cancel)
        vertices = model.vertices(fit.identity, fit.expression).astype(np.float32)
    cam = fit.camera
    silhouette68 = jaw68_vertices(model, vertices, cam)
    fixed68, contour68 = landmarks68(model, vertices, cam, silhouette68, jaw_targets=mp_jaw_points(points),
                                     jaw_visibility=getattr(fit, "jaw_visibility", None))
    tex = None
    with _Timer(stage("texture", 0.6, "Baking the texture")):
        tex = bake_texture(img, model, vertices, cam.world_to_camera, cam.K, opts.texture_size, device)
    stage("done", 1.0, "Done")
    timings["total"] = time.perf_counter() - t_start
    quality = {**quality_report(fit, fit.identity, fit.expression, points),
               "detector_offsets": detector_offsets(model) is not None}
    return Reconstruction(
        identity=fit.identity, expression=fit.expression, expression_names=list(model.expression_names),
        rotation=cam.rotation, translation=cam.translation, K=cam.K, image_size=(w, h),
        world_to_camera=cam.world_to_camera, vertices=vertices,
        texture=getattr(tex, "photo", None), texture_delit=getattr(tex, "delit", None),
        texture_confidence=getattr(tex, "confidence", None),
        landmarks={"detected478": points.astype(np.float32), "fixed68": fixed68.astype(np.float32),
                   "contour68": contour68.astype(np.float32)},
        faces=list(faces), face_index=face_index, timings=timings,
        quality=quality, warnings=_warnings(img, face, quality, fit, located.evidence), path=fit.path, image=img,
        extras={"sh_coeffs": getattr(tex, "sh_coeffs", None), "skin_tone": getattr(tex, "skin_tone", None),
                "fit_seconds": fit.seconds, "silhouette68": silhouette68,
                "regressor": None if init is None else init["source"], "evidence": located.evidence},
    )
