"""One photo in, a fitted and textured head out: `reconstruct(image, model, options)`.

Stages (each timed in `Reconstruction.timings`): load -> detect (MTCNN, every face) ->
landmarks (mediapipe 478 on the chosen face) -> fit (engine/fit.py: camera, pose, identity,
expression on the landmark points) -> texture (engine/texture.py: UV texture, de-lit copy,
confidence). `progress(frac, message)` is called between stages; `cancel.is_set()` is
checked between stages and inside the fit and raises `Cancelled`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .errors import Cancelled, NoFaceError

QUALITIES = ("fast", "balanced", "high")
REGRESSORS = ("auto", "genova", "landmark", "none")


@dataclass
class ReconstructOptions:
    face_index: int | None = None   # None: the largest face
    texture_size: int = 2048
    device: str = "auto"
    quality: str = "balanced"       # fast | balanced | high
    regressor: str = "auto"         # auto: Genova et al. when its checkpoint and the FaceNet weights
    #                                 are installed, else the landmark regressor; or genova | landmark | none
    regression_only: bool = False   # fast mode: the regression is the answer, no fitting


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

    @property
    def focal(self) -> float:
        return float(self.K[0, 0])


# ---- cached per-model data ----------------------------------------------------------------
_CACHE: dict = {}


def _cached(model, key, build):
    k = (id(model), key)
    if k not in _CACHE:
        _CACHE[k] = build()
    return _CACHE[k]


def detector_basis(model, calibrated: bool = True):
    """PointBasis of the 478 detector points on the model surface (engine/correspondence.py),
    moved by the measured detector-bias offsets (engine/calibrate.py) when they exist."""
    from .correspondence import get_correspondence, surface_points
    from .fit import PointBasis

    def build():
        corr = get_correspondence(model)
        # surface points are barycentric, so linear in the vertices: map mean and every mode
        stack = np.concatenate([model.mean[None], model.mean[None] + model.identity_basis,
                                model.mean[None] + model.expression_basis], 0).astype(np.float64)
        pts = np.asarray(surface_points(stack, corr), dtype=np.float64)
        off = detector_offsets(model) if calibrated else None
        return PointBasis(pts[0] if off is None else pts[0] + off, pts[1:] - pts[0])
    return _cached(model, ("detector_basis", calibrated), build)


def detector_offsets(model):
    """(478, 3) cm calibrated detector-bias offsets (engine/calibrate.py), or None."""
    from . import calibrate
    from .correspondence import get_correspondence
    return _cached(model, ("detector_offsets", str(calibrate.OFFSETS_PATH)),
                   lambda: calibrate.load_offsets(get_correspondence(model), calibrate.OFFSETS_PATH))


def detector_points(model, vertices, calibrated: bool = True):
    """The 478 detector points on posed vertices (V, 3): correspondence plus offsets."""
    from .correspondence import get_correspondence, surface_points
    pts = surface_points(np.asarray(vertices, dtype=np.float64), get_correspondence(model))
    off = detector_offsets(model) if calibrated else None
    return pts if off is None else pts + off


def _contour(model, jaw_targets):
    """Sliding jaw contour for the 17 jaw points, or None if the correspondence lacks it."""
    from .fit import Contour
    try:
        from .correspondence import contour_candidates, select_contour
    except ImportError:
        return None
    cands = _cached(model, "contour_candidates", lambda: contour_candidates(model))
    needed = np.unique(np.concatenate([np.asarray(cands.vertices).ravel(), cands.axis_x, cands.axis_down]))
    targets = np.asarray(jaw_targets, dtype=np.float64)
    if not CONTOUR_NEAREST:
        return Contour(targets, lambda vc, K: select_contour(vc, K, cands), needed=needed)

    def select(vc, K):
        # closest-point correspondence: each detected jaw point is paired with the nearest point
        # of the fitted silhouette polyline (within planes j +- 1.5), a blend of two silhouette vertices
        from .model_landmarks import nearest_on_polyline
        ids = np.asarray(select_contour(vc, K, cands))
        uvw = vc[ids] @ np.asarray(K, dtype=np.float64).T
        sil = uvw[:, :2] / uvw[:, 2:]
        u = nearest_on_polyline(sil, targets)
        i = np.clip(np.floor(u).astype(int), 0, 15)
        t = u - i
        return np.stack([ids[i], ids[i + 1]], 1), np.stack([1 - t, t], 1)
    return Contour(targets, select, needed=needed)


CONTOUR_NEAREST = False  # the fit's jaw contour: plane j's silhouette vertex (False) or the nearest silhouette point


# MediaPipe's face-oval ring: on a turned head these points follow the silhouette, not fixed
# surface points, so the fixed correspondence weighs them less (the sliding contour covers the jaw).
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
             377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
FACE_OVAL_WEIGHT = 0.3
# The points that make up the detector's inner 68 (eyes, brows, nose, mouth) count more: the
# fitted surface then follows them closely (weight 1 -> 3: 68-point NME 0.0260 -> 0.0251,
# same-person AUC 0.78 -> 0.84, synthetic 3.11 -> 3.00 mm; 3 -> 10, with the trusted regressor
# start: NME 0.0229 -> 0.0227, leave-one-out better on 9 of 9 photos instead of 7, AUC 0.826 ->
# 0.832, synthetic 2.98 -> 2.96 mm; rendered faces 5.58 -> 5.72 mm; docs/reconstruction.md).
LANDMARK68_WEIGHT = 10.0


def detector_weights(n=478):
    w = np.ones(n)
    w[list(FACE_OVAL)] = FACE_OVAL_WEIGHT
    from . import detect
    if n == 478 and getattr(detect, "MP_TO_68_INDEX", None) is not None:
        w[np.unique(detect.MP_TO_68_INDEX[17:].ravel())] *= LANDMARK68_WEIGHT
    return w


def mp_jaw_points(points478):
    """The detector's 17 jaw points (68-point scheme) from its 478 points (detect.to68), or None."""
    from . import detect
    if getattr(detect, "MP_TO_68_INDEX", None) is None:
        return None  # table not installed: fit without the sliding contour
    return detect.to68(np.asarray(points478, dtype=np.float64))[:17]


def model_landmarks_table():
    """The calibrated model 68-point table (engine/model_landmarks.py), or None."""
    from . import model_landmarks
    k = ("model_landmarks68", str(model_landmarks.TABLE_PATH))
    if k not in _CACHE:
        _CACHE[k] = model_landmarks.load_table()
    return _CACHE[k]


def landmarks68(model, vertices, camera, contour_vertices=None, table="default", jaw_targets=None):
    """Projected 68 landmarks of the fitted model (pixels):
    fixed: ICT's own 68 landmark vertices;
    contour: the model's calibrated 68 landmarks (engine/data/model_landmarks68.json: inner
    points as surface points, jaw 0-16 along the fitted silhouette) when that table exists
    and the silhouette is given; else the 68 points as the detector defines them (its 478
    correspondence points on the fitted surface, blended by detect.to68) with the jaw on the
    fitted silhouette. table: "default" (the shipped one), a table dict, or None (old definition).
    jaw_targets (17, 2): the detected jaw points (mp_jaw_points); with the shipped table each jaw
    landmark is the fitted silhouette's point nearest to its detection."""
    fixed = camera.project(vertices[model.landmarks68].astype(np.float64))
    if table == "default":
        table = model_landmarks_table()
    if table is not None and contour_vertices is not None and len(contour_vertices) == 17:
        from .model_landmarks import points68
        return fixed, points68(model, vertices, camera, contour_vertices, table, jaw_targets)
    contour = fixed.copy()
    from . import detect
    if getattr(detect, "MP_TO_68_INDEX", None) is not None:
        contour = detect.to68(camera.project(detector_points(model, vertices)))
    if contour_vertices is not None and len(contour_vertices) == 17:
        contour[:17] = camera.project(vertices[np.asarray(contour_vertices)].astype(np.float64))
    return fixed, contour


def _regressor_init(points, image_size, model):
    """The landmark regressor's prediction, or None when it (or its weights) is unavailable."""
    try:
        from .regress import predict_init
    except ImportError:
        return None
    from .errors import WeightsUnavailableError
    try:
        return predict_init(points, image_size, model)
    except (WeightsUnavailableError, FileNotFoundError):
        return None


def regression(img, face_box, points, image_size, model, opts, device="cpu"):
    """-> prediction dict(identity, expression, rotation, translation, focal, source) or None.

    Genova et al. (identity and expression from the photo's appearance) when it is installed,
    with the landmark regressor's camera when that exists too (its pose and focal come from the
    geometry of the 478 points and are measured to help the fit, docs/benchmarks.md); else the
    landmark regressor alone. Asking for one that is missing raises WeightsUnavailableError."""
    from .errors import FaceSpaceError, WeightsUnavailableError
    if opts.regressor not in REGRESSORS:
        raise FaceSpaceError(f"Unknown regressor {opts.regressor!r}; choose one of {', '.join(REGRESSORS)}.")
    if opts.regressor == "none":
        return None
    landmark = _regressor_init(points, image_size, model)   # also the camera for Genova
    if opts.regressor in ("auto", "genova"):
        from .regress import genova_available
        if genova_available():
            from .regress.genova import load_genova_predictor
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
    from .fit import Camera, FitResult
    cam = Camera(np.asarray(pred["rotation"], dtype=np.float64), np.asarray(pred["translation"], dtype=np.float64),
                 float(pred["focal"]), tuple(int(v) for v in image_size))
    identity = np.asarray(pred["identity"], dtype=np.float32)
    expression = np.clip(np.asarray(pred["expression"], dtype=np.float32), 0.0, 1.0)
    basis = detector_basis(model)
    c = np.concatenate([identity, expression]).astype(np.float64)
    res = np.linalg.norm(cam.project(basis.mean + np.tensordot(c, basis.basis, 1)) - points, axis=1)
    return FitResult(identity=identity, expression=expression, camera=cam, residual_px=res,
                     contour_residual_px=None, contour_vertices=None, robust_weights=np.ones(len(res)),
                     iterations=0, path=pred["source"], seconds=seconds)


def fit_points(model, points478, image_size, *, quality="balanced", device="cpu", init=None,
               cancel=None, settings=None, jaw_points=None):
    """Fit the model to detector points (478, 2) -> FitResult. jaw_points (17, 2): the jaw
    targets of the sliding contour (default: the detector's 68-point jaw, detect.to68)."""
    from .fit import FitSettings, fit_landmarks
    basis = detector_basis(model)
    jaw = mp_jaw_points(points478) if jaw_points is None else jaw_points
    contour = None if jaw is None else _contour(model, jaw)
    st = settings or FitSettings(quality=quality)
    return fit_landmarks(model, points478, basis, image_size, weights=detector_weights(len(points478)),
                         contour=contour, init=init,
                         settings=st, device=device, cancel=cancel)


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
    from .fit import rotation_angles
    out.update({f"head_{k}_deg": float(v) for k, v in rotation_angles(fit.camera.rotation).items()})
    return out


def reconstruct(image, model, options: ReconstructOptions | None = None, progress=None, cancel=None) -> Reconstruction:
    """Photo (path, bytes, PIL image or (H, W, 3) array) -> Reconstruction. Raises typed FaceSpaceErrors."""
    opts = options or ReconstructOptions()
    if opts.quality not in QUALITIES:
        from .errors import FaceSpaceError
        raise FaceSpaceError(f"Unknown quality {opts.quality!r}; choose one of {', '.join(QUALITIES)}.")
    from .device import pick_device
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

    from .image_io import load_image
    from .detect import choose_face, detect_faces, face_landmarks

    with _Timer(stage("load", 0.0, "Reading the photo")):
        img = load_image(image)
    h, w = img.shape[:2]
    with _Timer(stage("detect", 0.05, "Finding faces")):
        faces = detect_faces(img)
        if not faces:
            raise NoFaceError("No face was found in the photo. Use a photo where the face is clearly "
                              "visible, well lit and not heavily covered.")
        face = choose_face(faces, opts.face_index)
    face_index = 0 if opts.face_index is None else int(opts.face_index)  # choose_face: faces[index]
    with _Timer(stage("landmarks", 0.25, "Placing landmarks")):
        lm = face_landmarks(img, face)
        points = np.asarray(lm.points, dtype=np.float64)[:, :2]
    with _Timer(stage("fit", 0.4, "Fitting the face model")):
        t_fit = time.perf_counter()
        init = regression(img, face.box, points, (w, h), model, opts, device)
        if opts.regression_only:
            if init is None:
                from .errors import WeightsUnavailableError
                raise WeightsUnavailableError("Regression-only mode needs a regressor, and none is installed "
                                              "or enabled. Turn regression-only off to fit instead.")
            fit = prediction_as_fit(model, init, points, (w, h), time.perf_counter() - t_fit)
        else:
            settings = None
            if init is not None and init.get("focal"):
                # the regressor's focal length as the fit's focal prior: what removes the large-yaw
                # failures of close-up (wide-angle) photos in `bench regress`
                from .fit import FitSettings
                settings = FitSettings(quality=opts.quality, focal_prior=float(init["focal"]) / max(w, h))
            fit = fit_points(model, points, (w, h), quality=opts.quality, device=device, init=init,
                             cancel=cancel, settings=settings)
        vertices = model.vertices(fit.identity, fit.expression).astype(np.float32)
    cam = fit.camera
    silhouette68 = _jaw68_vertices(model, vertices, cam)
    fixed68, contour68 = landmarks68(model, vertices, cam, silhouette68, jaw_targets=mp_jaw_points(points))
    tex = None
    with _Timer(stage("texture", 0.6, "Baking the texture")):
        from .texture import bake_texture
        tex = bake_texture(img, model, vertices, cam.world_to_camera, cam.K, opts.texture_size, device)
    stage("done", 1.0, "Done")
    timings["total"] = time.perf_counter() - t_start
    return Reconstruction(
        identity=fit.identity, expression=fit.expression, expression_names=list(model.expression_names),
        rotation=cam.rotation, translation=cam.translation, K=cam.K, image_size=(w, h),
        world_to_camera=cam.world_to_camera, vertices=vertices,
        texture=getattr(tex, "photo", None), texture_delit=getattr(tex, "delit", None),
        texture_confidence=getattr(tex, "confidence", None),
        landmarks={"detected478": points.astype(np.float32), "fixed68": fixed68.astype(np.float32),
                   "contour68": contour68.astype(np.float32)},
        faces=list(faces), face_index=face_index, timings=timings,
        quality={**quality_report(fit, fit.identity, fit.expression, points),
                 "detector_offsets": detector_offsets(model) is not None},
        path=fit.path, image=img,
        extras={"sh_coeffs": getattr(tex, "sh_coeffs", None), "skin_tone": getattr(tex, "skin_tone", None),
                "fit_seconds": fit.seconds, "silhouette68": silhouette68,
                "regressor": None if init is None else init["source"]},
    )


def _jaw68_vertices(model, vertices, cam):
    """Silhouette vertices for the 68-point jaw (0-16) at the fitted pose, or None."""
    try:
        from .correspondence import contour_candidates, select_contour
    except ImportError:
        return None
    cands = _cached(model, "contour_candidates", lambda: contour_candidates(model))
    vc = vertices.astype(np.float64) @ cam.rotation.T + cam.translation
    ids = np.asarray(select_contour(vc, cam.K, cands))
    return ids if len(ids) == 17 else None
