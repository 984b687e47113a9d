"""A pure-Python reader of dlib's serialization, for dlib_face_recognition_resnet_model_v1.dat.

dlib's format carries no type tags: a network is read by walking its C++ type, outermost
layer first (dlib/dnn/core.h: add_loss_layer, add_layer, add_tag_layer, add_skip_layer each
write a version int, then their subnetwork, then their own layer's details). So the reader
walks a Python mirror of the network's template (NETWORK below, from dlib's
examples/dnn_face_recognition_ex.cpp) and checks every version string and shape on the way.

Encodings (dlib/serialize.h, dlib/float_details.h, dlib/cuda/tensor.h):
- integers: a control byte (bit 7 = negative for signed types, low 4 bits = byte count)
  followed by that many little-endian bytes;
- scalar floats: float_details, an int64 mantissa and int16 exponent (value = m * 2**e),
  each as an integer above;
- strings: length (integer) then bytes; bools: the character '1' or '0';
- tensors: version 2, four dims (n, k, nr, nc), then little-endian IEEE float32 data.
No dlib, no pickle: the result is plain numpy arrays.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core.errors import IdentityWeightsCorruptError

# --- the network's type, outermost first ----------------------------------------------
# Node kinds: ("loss", sub), ("layer", details, sub), ("tag", id, sub), ("skip", id, sub),
# ("input", size). details: ("con", filters, nr, nc, stride), ("affine",), ("relu",),
# ("max_pool", nr, nc, stride), ("avg_pool", nr, nc, stride), ("add_prev", tag),
# ("fc_no_bias", outputs).


def _layer(details, sub):
    return ("layer", details, sub)


def _block(n, stride, sub):
    # block = BN<con<N,3,3,1,1,relu<BN<con<N,3,3,stride,stride,SUBNET>>>>>
    return _layer(("affine",), _layer(("con", n, 3, 3, 1), _layer(("relu",), _layer(
        ("affine",), _layer(("con", n, 3, 3, stride), sub)))))


def _ares(n, sub):
    # relu<add_prev1<block<N,1,tag1<SUBNET>>>>
    return _layer(("relu",), _layer(("add_prev", 1), _block(n, 1, ("tag", 1, sub))))


def _ares_down(n, sub):
    # relu<add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<N,2,tag1<SUBNET>>>>>>>
    return _layer(("relu",), _layer(("add_prev", 2), _layer(("avg_pool", 2, 2, 2), (
        "skip", 1, ("tag", 2, _block(n, 2, ("tag", 1, sub)))))))


def _network():
    x = _layer(("con", 32, 7, 7, 2), ("input", 150))
    x = _layer(("max_pool", 3, 3, 2), _layer(("relu",), _layer(("affine",), x)))
    for n, count, down in ((32, 3, False), (64, 4, True), (128, 3, True), (256, 3, True), (256, 1, True)):
        for i in range(count):  # alevelN: the first (innermost) unit of a level downsamples
            x = _ares_down(n, x) if (down and i == 0) else _ares(n, x)
    x = _layer(("fc_no_bias", 128), _layer(("avg_pool", 0, 0, 1), x))
    return ("loss", x)


NETWORK = _network()
INPUT_SIZE = 150


@dataclass
class DlibLayer:
    kind: str                 # con, affine, relu, max_pool, avg_pool, add_prev, fc
    arrays: dict = field(default_factory=dict)   # numpy float32 arrays
    meta: dict = field(default_factory=dict)     # strides, paddings, ...


@dataclass
class DlibNetwork:
    input_mean: np.ndarray    # (3,) float32, dlib's avg_red/green/blue
    input_size: int
    layers: list              # DlibLayer in forward order (input side first)
    loss: dict

    def of_kind(self, kind):
        return [layer for layer in self.layers if layer.kind == kind]


class _Reader:
    def __init__(self, data: bytes):
        self.buf = memoryview(data)
        self.pos = 0

    def fail(self, what):
        raise IdentityWeightsCorruptError(
            f"The identity network file is damaged or not dlib's face-recognition network "
            f"({what} at byte {self.pos}). Reinstall it: python -m engine install-identity.")

    def take(self, n):
        if self.pos + n > len(self.buf):
            self.fail("unexpected end of file")
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def int(self, signed=True):
        ctrl = self.take(1)[0]
        size = ctrl & 0x0F
        if size == 0 or size > 8 or (ctrl & 0x70):
            self.fail("bad integer")
        value = int.from_bytes(self.take(size), "little")
        return -value if (signed and ctrl & 0x80) else value

    def float(self):
        mantissa, exponent = self.int(), self.int()
        if exponent >= 32000:  # float_details' is_inf / is_ninf / is_nan markers
            return (float("inf"), float("-inf"), float("nan"))[min(exponent - 32000, 2)]
        return float(np.ldexp(np.float64(mantissa), exponent))

    def string(self):
        n = self.int(signed=False)
        if n > 256:
            self.fail("implausible string length")
        return bytes(self.take(n)).decode("latin-1")

    def bool(self):
        ch = bytes(self.take(1))
        if ch not in (b"0", b"1"):
            self.fail("bad bool")
        return ch == b"1"

    def version(self, allowed):
        v = self.int()
        if v not in allowed:
            self.fail(f"unexpected version {v}")
        return v

    def expect_string(self, allowed):
        s = self.string()
        if s not in allowed:
            self.fail(f"unexpected layer {s!r} (expected {' or '.join(allowed)})")
        return s

    def tensor(self):
        self.version((2,))
        dims = [self.int() for _ in range(4)]
        if min(dims) < 0:
            self.fail("negative tensor size")
        count = int(np.prod(dims))
        raw = self.take(4 * count)
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(dims)

    def alias_tensor(self):
        self.version((1,))
        return tuple(self.int() for _ in range(4))


def read_dlib_network(data: bytes) -> DlibNetwork:
    """Parse the whole .dat file (bytes) into numpy arrays, checking it against NETWORK."""
    r = _Reader(data)
    layers: list[DlibLayer] = []
    state = {}

    def details(spec):
        kind = spec[0]
        if kind == "con":
            _, n, nr, nc, stride = spec
            v = r.expect_string(("con_4", "con_5", "con_6"))
            params = r.tensor()
            num_filters = r.int()
            dims = (r.int(), r.int(), r.int(), r.int())  # nr, nc, stride_y, stride_x
            pad = (r.int(), r.int())
            fshape, bshape = r.alias_tensor(), r.alias_tensor()
            for _ in range(4):  # learning-rate and weight-decay multipliers (training only)
                r.float()
            use_bias = r.bool() if v in ("con_5", "con_6") else True
            if v == "con_6" and r.bool():  # use_relu: a fused relu this network never has
                r.fail("convolution with a fused relu")
            if (num_filters, dims) != (n, (nr, nc, stride, stride)) or fshape[0] != n:
                r.fail(f"convolution shape {num_filters, dims} differs from the network's")
            flat = params.reshape(-1)
            nf = int(np.prod(fshape))
            if flat.size != nf + int(np.prod(bshape)):
                r.fail("convolution parameter count")
            bias = flat[nf:].copy() if use_bias else np.zeros(n, np.float32)
            layers.append(DlibLayer("con", {"weight": flat[:nf].reshape(fshape).copy(), "bias": bias},
                                    {"stride": stride, "padding": pad}))
        elif kind == "affine":
            v = r.expect_string(("affine_", "affine_2", "bn_con2"))
            params = r.tensor().reshape(-1)
            gshape, _bshape = r.alias_tensor(), r.alias_tensor()
            k = int(np.prod(gshape))
            gamma, beta = params[:k].copy(), params[k:2 * k].copy()
            if v == "bn_con2":  # batch norm stored as such: fold it as affine_(bn_) does
                r.tensor(), r.tensor()                      # means, invstds (training batch)
                rmean, rvar = r.tensor().reshape(-1), r.tensor().reshape(-1)
                r.int(signed=False), r.float()              # num_updates, window size
                for _ in range(4):
                    r.float()
                eps = r.float()
                gamma = (gamma / np.sqrt(rvar + np.float32(eps))).astype(np.float32)
                beta = (beta - gamma * rmean).astype(np.float32)
            else:
                r.int()                                     # mode (CONV_MODE)
                if v == "affine_2":
                    r.bool()                                # disabled
            layers.append(DlibLayer("affine", {"gamma": gamma, "beta": beta}))
        elif kind == "relu":
            if r.expect_string(("relu_", "relu_2")) == "relu_2":
                r.bool()
            layers.append(DlibLayer("relu"))
        elif kind in ("max_pool", "avg_pool"):
            _, nr, nc, stride = spec
            r.expect_string((kind + "_2",))
            dims = (r.int(), r.int(), r.int(), r.int())
            pad = (r.int(), r.int())
            if dims != (nr, nc, stride, stride):
                r.fail(f"{kind} shape {dims}")
            layers.append(DlibLayer(kind, meta={"size": (nr, nc), "stride": stride, "padding": pad}))
        elif kind == "add_prev":
            r.expect_string(("add_prev_",))
            layers.append(DlibLayer("add_prev", meta={"tag": spec[1]}))
        elif kind == "fc_no_bias":
            r.expect_string(("fc_2", "fc_3"))
            outputs, inputs = r.int(), r.int()
            params = r.tensor().reshape(-1)
            wshape, _ = r.alias_tensor(), r.alias_tensor()
            if r.int() != 1:                               # bias mode: FC_NO_BIAS (FC_HAS_BIAS is 0)
                r.fail("fc layer with a bias")
            for _ in range(4):
                r.float()
            if outputs != spec[1] or params.size != inputs * outputs or wshape[:2] != (inputs, outputs):
                r.fail("fc shape")
            # dlib computes x @ W with W (inputs, outputs)
            layers.append(DlibLayer("fc", {"weight": params.reshape(inputs, outputs).copy()}))
        else:
            raise AssertionError(kind)

    def layer_tail(version, input_layer):
        for _ in range(3):  # this_layer_setup_called, gradient_input_is_stale, ..._disabled
            r.bool()
        r.tensor(), r.tensor()  # x_grad, cached_output (empty in a saved net)
        if input_layer:
            r.tensor()          # grad_final
            if version >= 3:
                r.int()         # _sample_expansion_factor
        elif version == 2:
            r.tensor()          # params_grad

    def node(spec):
        kind = spec[0]
        if kind == "loss":
            r.version((1,))
            v = r.expect_string(("loss_metric_", "loss_metric_2"))
            loss = {"margin": 0.1, "dist_thresh": 0.75}
            if v == "loss_metric_2":
                loss = {"margin": r.float(), "dist_thresh": r.float()}
            state["loss"] = loss
            node(spec[1])
        elif kind in ("tag", "skip"):
            r.version((1,))
            node(spec[2])
        elif kind == "layer":
            sub = spec[2]
            if sub[0] == "input":
                v = r.version((2, 3))
                r.expect_string(("input_rgb_image_sized",))
                state["mean"] = np.array([r.float(), r.float(), r.float()], np.float32)
                size = (r.int(signed=False), r.int(signed=False))
                if size != (sub[1], sub[1]):
                    r.fail(f"input size {size}")
                details(spec[1])
                layer_tail(v, True)
            else:
                v = r.version((1, 2))
                node(sub)
                details(spec[1])
                layer_tail(v, False)
        else:
            raise AssertionError(kind)

    node(NETWORK)
    if r.pos != len(r.buf):
        r.fail(f"{len(r.buf) - r.pos} unexpected trailing bytes")
    return DlibNetwork(state["mean"], INPUT_SIZE, layers, state["loss"])


def read_dlib_file(path) -> DlibNetwork:
    from pathlib import Path
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        from ..core.errors import IdentityWeightsError
        raise IdentityWeightsError(f"The dlib face-recognition network file {p} does not exist.") from None
    return read_dlib_network(data)
