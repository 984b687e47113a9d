#!/usr/bin/env bash
# One-command setup on a fresh machine: virtual environment, pinned dependencies, and the
# face model (from ../shared when present, as in CI; otherwise install it later with
# `.venv/bin/python -m engine install-model`, which downloads the pinned upstream release).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install -r requirements.txt -c constraints.txt
# facenet-pytorch 2.6.0 pins torch<2.3, numpy<2, Pillow<10.3, which cannot coexist with
# bpy/mediapipe/torch 2.14; its code runs fine on the versions above, so skip its pins.
.venv/bin/python -m pip install --no-deps -r requirements-nodeps.txt -c constraints.txt
ARCHIVE=../shared/models/ict-facekit.tar.xz
if [ -f "$ARCHIVE" ]; then
  .venv/bin/python -m engine install-model --from "$ARCHIVE"
else
  echo "note: $ARCHIVE not found; install the face model with: .venv/bin/python -m engine install-model"
fi
