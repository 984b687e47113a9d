"""Genova et al. regressor: the four losses, a short training, checkpoints and the encoder.
Tiny and CPU-only: randomly initialised FaceNet (no pretrained weights), 64-96 px renders
through the real renderer and the real ICT model."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.core.errors import FaceSpaceError, WeightsUnavailableError
from engine.regress.encoder import build_encoder, load_facenet_state_dict
from engine.regress.genova import (FaceRenderer, batch_distribution_loss, build_regressor, loopback_loss,
                                   multiview_identity_loss, parameter_loss, sample_synthetic, to_nchw)


@pytest.fixture(scope="module")
def parts(ict_model):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    enc = build_encoder(pretrained=False, seed=0, input_size=96)
    ren = FaceRenderer(ict_model, size=64)
    return enc, ren


def _grad_norms(reg):
    return {n: (p.grad.abs().sum().item() if p.grad is not None else 0.0) for n, p in reg.named_parameters()}


def test_encoder_exposes_pool_and_embedding(parts):
    enc, _ = parts
    x = torch.rand(2, 3, 96, 96, requires_grad=True)
    out = enc(x)
    assert out["pool"].shape == (2, 1792) and out["embedding"].shape == (2, 512)
    assert torch.allclose(out["embedding"].norm(dim=1), torch.ones(2), atol=1e-5)
    out["embedding"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(not p.requires_grad for p in enc.parameters())


def test_each_loss_finite_and_reaches_regressor(ict_model, parts):
    enc, ren = parts
    K, E = ict_model.n_identity, ict_model.n_expression
    reg = build_regressor(K, E, hidden=64, layers=1)
    gen = torch.Generator().manual_seed(1)
    syn = sample_synthetic(K, E, 3, gen)
    img = ren.render(syn["identity"], syn["expression"], syn["pose"], syn["albedo"], syn["background"])
    assert img.shape == (3, 64, 64, 3) and torch.isfinite(img).all()
    # the face covers a good part of the crop, and differs from the background
    assert (img - syn["background"]).abs().sum(-1).gt(1e-3).float().mean() > 0.3
    with torch.no_grad():
        feats = enc(to_nchw(img))
    losses = {
        "parameter": lambda p: parameter_loss(p, syn),
        "distribution": lambda p: batch_distribution_loss(p["identity"]),
        "loopback": lambda p: loopback_loss(p, ren, enc, reg),
        "multiview": lambda p: multiview_identity_loss(p, feats["embedding"], ren, enc, (-30.0, 0.0, 30.0)),
    }
    for name, fn in losses.items():
        reg.zero_grad(set_to_none=True)
        L = fn(reg(feats["pool"]))
        assert torch.isfinite(L), name
        L.backward()
        g = _grad_norms(reg)
        assert all(math.isfinite(v) for v in g.values()), name
        assert g["head.weight"] > 0 and g["trunk.0.weight"] > 0, (name, g)


def test_multiview_gradient_goes_through_renderer(ict_model, parts):
    """The multi-view loss moves the predicted identity (gradient through the rasteriser)."""
    enc, ren = parts
    K, E = ict_model.n_identity, ict_model.n_expression
    ident = torch.zeros(2, K, requires_grad=True)
    pred = {"identity": ident, "expression": torch.zeros(2, E), "pose": torch.zeros(2, 3),
            "albedo": torch.full((2, 3), 0.6)}
    target = torch.nn.functional.normalize(torch.randn(2, 512, generator=torch.Generator().manual_seed(2)), dim=1)
    multiview_identity_loss(pred, target, ren, enc, (0.0, 30.0)).backward()
    assert torch.isfinite(ident.grad).all() and ident.grad.abs().sum() > 0


def test_batch_distribution_loss_prefers_prior():
    g = torch.Generator().manual_seed(0)
    prior = torch.randn(512, 20, generator=g)
    assert batch_distribution_loss(prior) < 0.2
    assert batch_distribution_loss(prior * 0.1) > 0.9
    assert batch_distribution_loss(prior + 1.0) > 0.9


def test_parameter_loss_decreases(ict_model, parts):
    enc, ren = parts
    K, E = ict_model.n_identity, ict_model.n_expression
    gen = torch.Generator().manual_seed(4)
    syn = sample_synthetic(K, E, 24, gen)
    with torch.no_grad():
        img = ren.render(syn["identity"], syn["expression"], syn["pose"], syn["albedo"], syn["background"])
        feats = enc(to_nchw(img))["pool"]
    torch.manual_seed(0)
    reg = build_regressor(K, E, hidden=128, layers=2)
    reg.set_feature_stats(feats)
    opt = torch.optim.Adam(reg.parameters(), lr=1e-3)
    first = None
    for step in range(300):
        L = parameter_loss(reg(feats), syn)
        first = float(L.detach()) if first is None else first
        opt.zero_grad()
        L.backward()
        opt.step()
    last = float(parameter_loss(reg(feats), syn).detach())
    print("parameter loss", first, last)
    assert last < 0.05 * first, (first, last)  # measured 1.36 -> 0.0003


def _tiny_trainer(ict_model, tmp_path, **kw):
    from engine.regress.train import GenovaTrainer
    opts = dict(out=tmp_path / "g.pt", encoder="random", size=96, batch=2, hidden=32, layers=1, lr=1e-3,
                yaws=(0.0, 30.0), seed=5, device="cpu", save_every=0, threads=1)
    opts.update(kw)
    return GenovaTrainer(ict_model, progress=None, **opts)


def test_checkpoint_round_trip_bit_exact(ict_model, tmp_path):
    a = _tiny_trainer(ict_model, tmp_path)
    a.train_step()
    a.save(tmp_path / "step1.pt")
    a.train_step()
    sd_a = {k: v.clone() for k, v in a.regressor.state_dict().items()}
    b = _tiny_trainer(ict_model, tmp_path)
    st = b.load(tmp_path / "step1.pt")
    assert b.step == 1 and st["config"]["seed"] == 5
    b.train_step()
    sd_b = b.regressor.state_dict()
    assert all(torch.equal(sd_a[k], sd_b[k]) for k in sd_a)
    opt_a, opt_b = a.opt.state_dict()["state"], b.opt.state_dict()["state"]
    assert all(torch.equal(opt_a[i][n], opt_b[i][n]) for i in opt_a for n in opt_a[i])
    # a corrupted checkpoint is refused before unpickling
    p = tmp_path / "step1.pt"
    data = bytearray(p.read_bytes())
    data[-100] ^= 0x01
    p.write_bytes(bytes(data))
    with pytest.raises(FaceSpaceError, match="SHA-256"):
        b.load(p)


def test_cli_training_writes_log_and_resumes(ict_model, tmp_path):
    from engine.cli import main
    out = tmp_path / "g.pt"
    args = ["train-regressor", "--out", str(out), "--encoder", "random", "--size", "96", "--batch", "2",
            "--hidden", "32", "--layers", "1", "--w-loop", "0", "--w-mv", "0", "--threads", "1", "--device", "cpu"]
    assert main(args + ["--steps", "2"]) == 0
    assert main(args + ["--steps", "3", "--resume"]) == 0
    rows = out.with_suffix(".csv").read_text().strip().splitlines()
    assert rows[0].startswith("step,") and [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3"]
    st = torch.load(out, weights_only=True)
    assert st["step"] == 3


def test_facenet_weights_offline_and_checksum(tmp_path, monkeypatch):
    monkeypatch.setenv("FACESPACE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("FACESPACE_FACENET_WEIGHTS", raising=False)
    monkeypatch.delenv("FACESPACE_FACENET_SHA256", raising=False)
    with pytest.raises(WeightsUnavailableError, match="FACESPACE_FACENET_WEIGHTS"):
        build_encoder(pretrained=True)
    # a local state dict: recorded on first use, then enforced
    f = tmp_path / "facenet.pt"
    enc = build_encoder(pretrained=False, seed=1)
    torch.save(enc.net.state_dict(), f)
    monkeypatch.setenv("FACESPACE_FACENET_WEIGHTS", str(f))
    sd = load_facenet_state_dict()
    assert torch.equal(sd["last_linear.weight"], enc.net.state_dict()["last_linear.weight"])
    assert (tmp_path / "facenet.pt.sha256").exists()
    loaded = build_encoder(pretrained=True)
    x = torch.rand(1, 3, 160, 160)
    assert torch.equal(loaded(x)["pool"], enc(x)["pool"])
    monkeypatch.setenv("FACESPACE_FACENET_SHA256", "0" * 64)
    with pytest.raises(FaceSpaceError, match="SHA-256"):
        load_facenet_state_dict()


def _genova_files(tmp_path, monkeypatch):
    """A local (random-init) FaceNet file and where the Genova checkpoint goes; returns its path."""
    monkeypatch.setenv("FACESPACE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("FACESPACE_FACENET_SHA256", raising=False)
    ckpt = tmp_path / "genova.pt"
    monkeypatch.setenv("FACESPACE_GENOVA_REGRESSOR", str(ckpt))
    f = tmp_path / "facenet.pt"
    torch.save(build_encoder(pretrained=False, seed=5).net.state_dict(), f)
    monkeypatch.setenv("FACESPACE_FACENET_WEIGHTS", str(f))
    return ckpt


def _train_tiny_checkpoint(ict_model, tmp_path, ckpt):
    tr = _tiny_trainer(ict_model, tmp_path, out=ckpt, w_loop=0.0, w_mv=0.0)
    tr.train_step()
    tr.save()


def test_predict_genova_on_a_photo(ict_model, tmp_path, monkeypatch):
    """Inference path end to end: a (tiny, random-encoder) checkpoint and a local FaceNet file."""
    from engine.detect.image_io import load_image
    from engine.regress import genova_available, predict_genova
    from tests.conftest import need_shared
    photo = need_shared("photos", "identity", "biden__biden.jpg")
    ckpt = _genova_files(tmp_path, monkeypatch)
    assert not genova_available()
    _train_tiny_checkpoint(ict_model, tmp_path, ckpt)
    assert genova_available()
    img = load_image(photo)
    h, w = img.shape[:2]
    box = (w * 0.3, h * 0.2, w * 0.6, h * 0.6)
    from engine.regress.genova import load_genova_predictor
    p = load_genova_predictor(ict_model, device="cpu").predict(img, box=box)
    assert p["identity"].shape == (ict_model.n_identity,) and np.isfinite(p["identity"]).all()
    assert np.allclose(p["rotation"] @ p["rotation"].T, np.eye(3), atol=1e-5)
    # the camera puts the face centre on the box centre
    c = ict_model.mean[ict_model.landmarks68].mean(0) @ p["rotation"].T + p["translation"]
    uv = c[:2] / c[2] * p["focal"] + (np.array([w, h]) - 1) / 2
    assert np.allclose(uv, [(box[0] + box[2]) / 2 - 0.5, (box[1] + box[3]) / 2 - 0.5], atol=1.0)
    full = predict_genova(img, ict_model, device="cpu")
    assert set(full) >= {"identity", "expression", "rotation", "translation", "focal"}


@pytest.mark.slow
def test_ddp_two_processes_gloo(tmp_path):
    """Data-parallel training through torch.distributed: torchrun, 2 CPU processes (gloo)."""
    import os
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "ddp.pt"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "engine", "train-regressor", "--out", str(out), "--encoder", "random", "--size", "96",
           "--batch", "2", "--steps", "2", "--threads", "1", "--save-every", "0", "--hidden", "32",
           "--layers", "1", "--w-loop", "0", "--w-mv", "0", "--device", "cpu"]
    r = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "2 process(es)" in r.stdout
    st = torch.load(out, weights_only=True)
    assert st["step"] == 2
    rows = out.with_suffix(".csv").read_text().strip().splitlines()
    assert len(rows) == 3  # header + 2 steps, written by rank 0 only


def test_reconstruct_uses_genova_when_installed(ict_model, tmp_path, monkeypatch):
    """With a (tiny, random-encoder) checkpoint and a local FaceNet file installed, `reconstruct`
    runs the Genova regression: as the fit's initialisation by default, as the whole answer in
    regression-only mode; the result says which ran. Without them, asking for it is a typed error."""
    from engine.pipeline.reconstruct import ReconstructOptions, reconstruct
    from engine.regress.genova import load_genova_predictor
    from tests.conftest import need_shared
    photo = need_shared("photos", "identity", "biden__biden.jpg")
    ckpt = _genova_files(tmp_path, monkeypatch)
    with pytest.raises(WeightsUnavailableError, match="Genova"):
        reconstruct(photo, ict_model, ReconstructOptions(texture_size=32, regressor="genova"))
    _train_tiny_checkpoint(ict_model, tmp_path, ckpt)

    fast = reconstruct(photo, ict_model, ReconstructOptions(texture_size=32, regression_only=True))
    assert fast.path == "genova" and fast.extras["regressor"] == "genova"
    assert fast.quality["fit_iterations"] == 0
    box = fast.faces[fast.face_index].box
    direct = load_genova_predictor(ict_model, device="cpu").predict(fast.image, box=box)
    assert np.allclose(fast.identity, direct["identity"], atol=1e-5)
    assert np.allclose(fast.vertices, ict_model.vertices(fast.identity, fast.expression), atol=1e-4)

    full = reconstruct(photo, ict_model, ReconstructOptions(texture_size=32))
    assert full.extras["regressor"] == "genova"
    assert full.path in ("genova+fit", "fit")         # the fit keeps whichever start ends lower
    assert full.quality["fit_iterations"] > 0
    # fitting refines the regression: the landmarks sit much closer
    assert full.quality["landmark_residual_px_mean"] < fast.quality["landmark_residual_px_mean"]
