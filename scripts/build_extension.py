"""Build the extension zip (dist/facespace-<version>.zip) with Blender's own packager.

    .venv/bin/python scripts/build_extension.py [--output-dir dist]

Runs Blender's extension CLI (bl_pkg/cli/blender_ext.py, shipped inside the `bpy` wheel):
`validate`, then `build`, which honours blender_manifest.toml's [build] paths_exclude_pattern
(no .venv, tests, docs, scripts, .ci). Prints the zip's path.
"""
from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def blender_ext_cli() -> Path:
    spec = importlib.util.find_spec("bpy")  # locate without importing bpy
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("bpy is not installed: run scripts/setup.sh first")
    base = Path(list(spec.submodule_search_locations)[0])
    hits = sorted(base.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not hits:
        raise SystemExit(f"Blender's extension CLI not found under {base}")
    return hits[-1]


def build(output_dir=None) -> Path:
    output_dir = Path(output_dir or ROOT / "dist").resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    manifest = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    cli = str(blender_ext_cli())
    subprocess.run([sys.executable, cli, "validate", str(ROOT)], check=True, stdout=subprocess.DEVNULL)
    out = output_dir / f"{manifest['id']}-{manifest['version']}.zip"
    subprocess.run([sys.executable, cli, "build", "--source-dir", str(ROOT), "--output-filepath", str(out)],
                   check=True, stdout=subprocess.DEVNULL)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--output-dir", help="where the zip goes (default: dist/)")
    print(build(p.parse_args(argv).output_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
