"""dlib's face-recognition ResNet (dlib_face_recognition_resnet_model_v1) rebuilt in PyTorch.

The network of dlib's examples/dnn_face_recognition_ex.cpp, layer for layer:
  input 150x150 RGB -> con 32 7x7/2 -> affine -> relu -> max_pool 3x3/2
  -> 3 x ares<32> -> ares_down<64> + 3 x ares<64> -> ares_down<128> + 2 x ares<128>
  -> ares_down<256> + 2 x ares<256> -> ares_down<256> -> global average -> fc 128 (no bias).
A unit is relu(block(x) + skip(x)); block = affine(con3x3(relu(affine(con3x3/stride(x))))).
`affine` is dlib's batch norm folded into a per-channel scale and shift. Two dlib details
matter for exactness:
- dlib pads only stride-1 convolutions (padding = size // 2); stride-2 ones and the pools
  have no padding, so sizes floor: 150 -> 72 -> 35 -> 17 -> 8 -> 3|4 -> 1|2.
- add_prev adds tensors of different shapes by zero-padding the smaller one at the end
  (more channels, or 3x3 block output vs 4x4 pooled skip): dlib/cuda/cpu_dlib.cpp add().
The descriptor is the raw fc output, not normalised: dlib compares descriptors by Euclidean
distance (same person when < 0.6, the loss's dist_thresh stored in the file).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

INPUT_SIZE = 150
DESCRIPTOR_DIM = 128
# (channels, units, first unit downsamples), input side first: alevel4 ... alevel0
STAGES = ((32, 3, False), (64, 4, True), (128, 3, True), (256, 3, True), (256, 1, True))


class Affine(nn.Module):
    """dlib's affine_ layer (CONV_MODE): y = gamma[c] * x + beta[c]."""

    def __init__(self, channels):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        return x * self.gamma[:, None, None] + self.beta[:, None, None]


def _add_zero_padded(a, b):
    """dlib's tt::add(dest, a, b): the larger shape, the smaller tensor zero-padded at the end."""
    if a.shape == b.shape:
        return a + b

    def pad(t, shape):
        return F.pad(t, (0, shape[3] - t.shape[3], 0, shape[2] - t.shape[2], 0, shape[1] - t.shape[1]))

    shape = [max(x, y) for x, y in zip(a.shape, b.shape)]
    return pad(a, shape) + pad(b, shape)


class Unit(nn.Module):
    """ares / ares_down: relu(block(x) + x), or relu(block(x) + avg_pool2x2(x)) when downsampling."""

    def __init__(self, cin, cout, down):
        super().__init__()
        self.down = down
        stride = 2 if down else 1
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, padding=0 if down else 1)
        self.affine1 = Affine(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, padding=1)
        self.affine2 = Affine(cout)

    def forward(self, x):
        y = self.affine2(self.conv2(F.relu(self.affine1(self.conv1(x)))))
        skip = F.avg_pool2d(x, 2, 2) if self.down else x
        return F.relu(_add_zero_padded(y, skip))


class DlibFaceResNet(nn.Module):
    """forward(chips (B,3,150,150) RGB in dlib's pixel scale 0..255, float) -> (B,128)."""

    def __init__(self):
        super().__init__()
        # dlib's input_rgb_image: (pixel - avg) / 256 per channel; avg is read from the file
        self.register_buffer("input_mean", torch.tensor([122.782, 117.001, 104.298]))
        self.register_buffer("dist_thresh", torch.tensor(0.6))
        self.conv0 = nn.Conv2d(3, 32, 7, 2, padding=0)
        self.affine0 = Affine(32)
        units, cin = [], 32
        for cout, count, down in STAGES:
            for i in range(count):
                units.append(Unit(cin, cout, down and i == 0))
                cin = cout
        self.units = nn.ModuleList(units)
        self.fc = nn.Linear(256, DESCRIPTOR_DIM, bias=False)

    def forward(self, chips):
        if chips.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"dlib's network takes {INPUT_SIZE}x{INPUT_SIZE} chips, got {tuple(chips.shape[-2:])}")
        x = (chips - self.input_mean[:, None, None]) / 256.0
        x = F.max_pool2d(F.relu(self.affine0(self.conv0(x))), 3, 2)
        for unit in self.units:
            x = unit(x)
        return self.fc(x.mean(dim=(2, 3)))

    def load_arrays(self, arrays: dict):
        """Load the converted weights (engine.identity.weights names), shapes checked."""
        own = self.state_dict()
        state = {k: torch.from_numpy(np.asarray(v, np.float32).copy()) for k, v in arrays.items() if k in own}
        missing = set(self.state_dict()) - set(state)
        if missing:
            raise KeyError(f"missing arrays: {sorted(missing)[:5]}")
        self.load_state_dict(state, strict=True)
        return self


def state_from_dlib(net) -> dict:
    """numpy arrays named as DlibFaceResNet's state dict, from a dlib_format.DlibNetwork.
    Convolutions and affines come in forward order: the stem, then per unit conv1, affine1,
    conv2, affine2 (dlib writes layers input side first)."""
    cons, affines = net.of_kind("con"), net.of_kind("affine")
    names = ["conv0"] + [f"units.{i}.conv{j}" for i in range(sum(s[1] for s in STAGES)) for j in (1, 2)]
    anames = [n.replace("conv", "affine") for n in names]
    if len(cons) != len(names) or len(affines) != len(anames):
        raise ValueError("layer count differs from the network")
    out = {"input_mean": net.input_mean.astype("float32"),
           "dist_thresh": np.array(net.loss["dist_thresh"], np.float32)}
    for name, layer in zip(names, cons):
        out[name + ".weight"] = layer.arrays["weight"]
        out[name + ".bias"] = layer.arrays["bias"]
    for name, layer in zip(anames, affines):
        out[name + ".gamma"] = layer.arrays["gamma"]
        out[name + ".beta"] = layer.arrays["beta"]
    out["fc.weight"] = net.of_kind("fc")[0].arrays["weight"].T.copy()  # dlib: x @ W, W (in, out)
    return out
