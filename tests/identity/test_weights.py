"""Reading dlib's file and the installed weights: damaged, truncated, foreign, missing files
all end in typed errors (never a pickle, never a half-loaded network)."""
from __future__ import annotations

import numpy as np
import pytest

from engine.core.errors import IdentityWeightsCorruptError, IdentityWeightsError, WeightsUnavailableError
from engine.identity import weights as W
from engine.identity.dlib_format import read_dlib_network


@pytest.fixture(scope="module")
def dat_bytes(dat_path) -> bytes:
    return dat_path.read_bytes()


def test_reader_reads_the_whole_network(dat_bytes):
    net = read_dlib_network(dat_bytes)
    kinds = [layer.kind for layer in net.layers]
    assert kinds.count("con") == 29 and kinds.count("affine") == 29 and kinds.count("fc") == 1
    assert net.layers[0].arrays["weight"].shape == (32, 3, 7, 7)
    assert net.of_kind("fc")[0].arrays["weight"].shape == (256, 128)
    assert net.loss["dist_thresh"] == pytest.approx(0.6)
    assert np.allclose(net.input_mean, [122.782, 117.001, 104.298], atol=1e-4)
    assert all(np.isfinite(a).all() for layer in net.layers for a in layer.arrays.values())


@pytest.mark.parametrize("cut", [0, 1, 40, 5000, 1_000_000, -1])
def test_reader_truncated_file(dat_bytes, cut):
    with pytest.raises(IdentityWeightsCorruptError):
        read_dlib_network(dat_bytes[:cut] if cut >= 0 else dat_bytes[:-1])


def test_reader_foreign_or_extended_file(dat_bytes):
    # another dlib network type (the loss layer's version string differs)
    foreign = dat_bytes.replace(b"\x01\x0dloss_metric_2", b"\x01\x0dloss_metric_9", 1)
    with pytest.raises(IdentityWeightsCorruptError, match="unexpected layer"):
        read_dlib_network(foreign)
    with pytest.raises(IdentityWeightsCorruptError, match="version"):
        read_dlib_network(b"\x01\x07" + dat_bytes[2:])       # add_loss_layer version 7
    with pytest.raises(IdentityWeightsCorruptError):
        read_dlib_network(b"PK\x03\x04" + dat_bytes[4:])      # not dlib's format at all
    with pytest.raises(IdentityWeightsCorruptError, match="trailing"):
        read_dlib_network(dat_bytes + b"\x00")


def test_install_from_missing_or_damaged_source(tmp_path, dat_bytes):
    with pytest.raises(IdentityWeightsError, match="does not exist"):
        W.install_identity_weights(tmp_path / "nope.dat", dest=tmp_path / "w.npz")
    short = tmp_path / "short.dat"
    short.write_bytes(dat_bytes[:100_000])
    with pytest.raises(IdentityWeightsCorruptError, match="SHA-256"):
        W.install_identity_weights(short, dest=tmp_path / "w.npz")
    bad_bz2 = tmp_path / "x.dat.bz2"
    bad_bz2.write_bytes(b"BZh9" + b"\x00" * 64)
    with pytest.raises(IdentityWeightsCorruptError, match="bz2"):
        W.install_identity_weights(bad_bz2, dest=tmp_path / "w.npz")
    assert not (tmp_path / "w.npz").exists()
    assert issubclass(IdentityWeightsError, WeightsUnavailableError)


@pytest.mark.slow
def test_install_from_bz2(tmp_path, dat_bytes):
    import bz2
    src = tmp_path / "dlib_face_recognition_resnet_model_v1.dat.bz2"
    src.write_bytes(bz2.compress(dat_bytes, 1))
    out = W.install_identity_weights(src, dest=tmp_path / "w.npz")
    assert W.load_identity_arrays(out)["conv0.weight"].shape == (32, 3, 7, 7)


def test_installed_file_checks(tmp_path, weights_file):
    good = W.load_identity_arrays(weights_file)
    assert int(good["format_version"]) == W.FORMAT_VERSION
    assert str(good["source_sha256"]) == W.DAT_SHA256

    def copy(name, data: bytes, side: str | None = "real"):
        p = tmp_path / name
        p.write_bytes(data)
        if side is not None:
            digest = W.sha256_file(p) if side == "real" else side
            W.sidecar(p).write_text(f"{digest}  {p.name}\n")
        return p

    raw = weights_file.read_bytes()
    with pytest.raises(IdentityWeightsError, match="not installed"):
        W.load_identity_arrays(tmp_path / "missing.npz")
    with pytest.raises(IdentityWeightsCorruptError, match="sidecar"):
        W.load_identity_arrays(copy("noside.npz", raw, side=None))
    flipped = bytearray(raw)
    flipped[len(raw) // 2] ^= 0xFF
    with pytest.raises(IdentityWeightsCorruptError, match="SHA-256"):
        W.load_identity_arrays(copy("flipped.npz", bytes(flipped), side=W.sha256_file(weights_file)))
    with pytest.raises(IdentityWeightsCorruptError, match="cannot be read"):
        W.load_identity_arrays(copy("truncated.npz", raw[: len(raw) // 3]))
    with pytest.raises(IdentityWeightsCorruptError, match="cannot be read"):
        W.load_identity_arrays(copy("magic.npz", b"NOTAZIP" + raw[7:]))

    def npz(name, **arrays):
        p = tmp_path / name
        with open(p, "wb") as f:
            np.savez(f, **arrays)
        W.sidecar(p).write_text(f"{W.sha256_file(p)}  {p.name}\n")
        return p

    other = {k: good[k] for k in good.files} if hasattr(good, "files") else dict(good)
    with pytest.raises(IdentityWeightsCorruptError, match="format version 2"):
        W.load_identity_arrays(npz("v2.npz", **{**other, "format_version": np.array(2)}))
    with pytest.raises(IdentityWeightsCorruptError, match="cannot be read"):  # a pickle inside: refused
        W.load_identity_arrays(npz("pickle.npz", **{**other, "conv0.weight": np.array([{"a": 1}], dtype=object)}))
    partial = {k: v for k, v in other.items() if k != "fc.weight"}
    with pytest.raises(IdentityWeightsCorruptError, match="lacks"):
        W.load_dlib_resnet(npz("partial.npz", **partial))


def test_cli_install_identity(tmp_path, monkeypatch, dat_path, capsys):
    from engine.cli import main
    monkeypatch.setenv("FACESPACE_DATA_DIR", str(tmp_path))
    assert main(["install-identity", "--from", str(tmp_path / "missing.dat")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["install-identity", "--from", str(dat_path)]) == 0
    installed = tmp_path / "weights" / W.WEIGHTS_NAME
    assert installed.is_file() and W.sidecar(installed).is_file()
    assert W.load_identity_arrays(installed, auto_install=False)["fc.weight"].shape == (128, 256)
