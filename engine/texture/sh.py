"""Order-2 real spherical harmonics lighting: 9 coefficients per colour channel."""
from __future__ import annotations

import torch


def sh_basis(n: torch.Tensor) -> torch.Tensor:
    """Unit normals (N, 3) -> (N, 9) real SH basis Y_00 .. Y_22."""
    x, y, z = n[:, 0], n[:, 1], n[:, 2]
    return torch.stack([
        torch.full_like(x, 0.282095),
        0.488603 * y, 0.488603 * z, 0.488603 * x,
        1.092548 * x * y, 1.092548 * y * z, 0.315392 * (3.0 * z * z - 1.0),
        1.092548 * x * z, 0.546274 * (x * x - y * y),
    ], 1)


def fit_sh(normals: torch.Tensor, colors: torch.Tensor, iterations: int = 4, ridge: float = 0.05) -> torch.Tensor:
    """Robust least squares of colors (N, 3) ~ sh_basis(normals) @ L, L (9, 3).

    Constant albedo is assumed, so L carries albedo x light. Iteratively reweighted with
    Tukey's biweight on the residual (scale from its median absolute value): eyebrows,
    lips, specular highlights and stray hair do not bend the fitted lighting. `ridge` is
    relative to the mean of Y^2 (~0.08 per basis function)."""
    Y = sh_basis(normals).double()
    c = colors.double()
    w = torch.ones(len(c), 1, dtype=Y.dtype, device=Y.device)
    # ridge on the directional bands only: one side of the head constrains the constant and the
    # z term almost equally, and only this keeps the fit from extrapolating darkness to the far side
    eye = torch.diag(torch.tensor([0.0] + [ridge] * 8, dtype=Y.dtype, device=Y.device)) * len(c)
    L = None
    for _ in range(iterations):
        Yw = Y * w
        L = torch.linalg.solve(Yw.T @ Y + eye, Yw.T @ c)
        r = (c - Y @ L).abs().mean(1, keepdim=True)
        scale = 4.685 * 1.4826 * r.median().clamp_min(1e-4)
        w = (1.0 - (r / scale).clamp(max=1.0) ** 2) ** 2
    return L.float()


def shading(normals: torch.Tensor, L: torch.Tensor) -> torch.Tensor:
    """(N, 3) shading for unit normals (N, 3) under coefficients L (9, 3)."""
    return sh_basis(normals) @ L
