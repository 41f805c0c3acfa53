"""OpSpec-style table for the ops of nndl.ops: brute-force references and bad inputs.

Each op is one record. The generic tests in ``test_ops_table.py`` iterate over the table:
forward against an independent brute-force loop, the fast path against the reference path in
float64 (values and gradients), and every error sample raises with a message naming the
argument. Adding an op means adding a record.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from nndl._validation import DTypeError, ShapeError, ValidationError
from nndl.ops import all_pairs_cost_volume, cost_volume, cost_volume_1d, warp

# (rtol, atol) per dtype, as kornia's BaseTester does
TOLERANCES = {
    torch.float64: (1e-10, 1e-12),
    torch.float32: (1e-5, 1e-5),
    torch.bfloat16: (1.6e-2, 1e-2),
    torch.float16: (2e-3, 2e-3),
}


def brute_cost_volume(f1: np.ndarray, f2: np.ndarray, d: int, s: int, reduction: str):
    """Index-by-index float64 loop over displacements and pixels (no padding tricks)."""
    b, c, h, w = f1.shape
    n = 2 * d + 1
    out = np.zeros((b, n * n, h, w))
    for k, (iy, ix) in enumerate(itertools.product(range(n), range(n))):
        dy, dx = (iy - d) * s, (ix - d) * s
        for y in range(h):
            for x in range(w):
                if 0 <= y + dy < h and 0 <= x + dx < w:
                    out[:, k, y, x] = (f1[:, :, y, x] * f2[:, :, y + dy, x + dx]).sum(1)
    return out / c if reduction == "mean" else out


def brute_cost_volume_1d(left: np.ndarray, right: np.ndarray, n_disp: int, reduction: str):
    b, c, h, w = left.shape
    out = np.zeros((b, n_disp, h, w))
    for disp in range(n_disp):
        for x in range(disp, w):
            out[:, disp, :, x] = (left[:, :, :, x] * right[:, :, :, x - disp]).sum(1)
    return out / c if reduction == "mean" else out


def brute_all_pairs(f1: np.ndarray, f2: np.ndarray):
    b, c, h, w = f1.shape
    out = np.zeros((b, h, w, h, w))
    for y1, x1, y2, x2 in itertools.product(range(h), range(w), range(h), range(w)):
        out[:, y1, x1, y2, x2] = (f1[:, :, y1, x1] * f2[:, :, y2, x2]).sum(1)
    return out / np.sqrt(c)


@dataclass
class ErrorSample:
    """Arguments that must raise ``error`` with a message matching ``match``."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    error: type[Exception]
    match: str


@dataclass
class OpSpec:
    name: str
    fn: Callable[..., Any]
    error_samples: list[ErrorSample] = field(default_factory=list)


def _t(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.zeros(*shape, dtype=dtype)


def _e(args: tuple, kwargs: dict, error: type[Exception], match: str) -> ErrorSample:
    return ErrorSample(args, kwargs, error, match)


OP_SPECS = [
    OpSpec(
        "cost_volume",
        cost_volume,
        [
            _e(
                (_t(2, 3, 4, 5), _t(2, 3, 4, 6), 1),
                {},
                ShapeError,
                r"f1 and f2 must have the same shape, got \(2, 3, 4, 5\) and \(2, 3, 4, 6\)",
            ),
            _e(
                (_t(3, 4, 5), _t(3, 4, 5), 1),
                {},
                ShapeError,
                r"f1 must have shape \(B, C, H, W\) \(4 dimensions\), got \(3, 4, 5\)",
            ),
            _e(
                (_t(1, 3, 4, 5), _t(1, 1, 3, 4, 5), 1),
                {},
                ShapeError,
                r"f2 must have shape \(B, C, H, W\)",
            ),
            _e(
                (_t(1, 2, 4, 4), _t(1, 2, 4, 4), -1),
                {},
                ValidationError,
                r"max_displacement must be an int in the range \[0, inf\], got -1",
            ),
            _e(
                (_t(1, 2, 4, 4), _t(1, 2, 4, 4), 1.5),
                {},
                DTypeError,
                r"max_displacement must be an int, got float",
            ),
            _e(
                (_t(1, 2, 4, 4, dtype=torch.int64), _t(1, 2, 4, 4, dtype=torch.int64), 1),
                {},
                DTypeError,
                r"f1 must be a floating-point tensor, got dtype torch.int64",
            ),
            _e(
                (_t(1, 2, 4, 4), _t(1, 2, 4, 4, dtype=torch.int32), 1),
                {},
                DTypeError,
                r"f2 must be a floating-point tensor, got dtype torch.int32",
            ),
            _e(
                (_t(1, 2, 4, 4), _t(1, 2, 4, 4, dtype=torch.float64), 1),
                {},
                DTypeError,
                r"f1, f2 must have the same dtype, got f1 torch.float32, f2 torch.float64",
            ),
            _e(
                (_t(1, 2, 4, 4), _t(1, 2, 4, 4), 1),
                {"stride": 0},
                ValidationError,
                r"stride must be an int in the range \[1, inf\], got 0",
            ),
            _e(
                (_t(1, 2, 4, 4), _t(1, 2, 4, 4), 1),
                {"normalize": "l1"},
                ValidationError,
                r"normalize must be None or 'l2', got 'l1'",
            ),
            _e(
                (_t(1, 2, 4, 4), _t(1, 2, 4, 4), 1),
                {"reduction": "max"},
                ValidationError,
                r"unknown reduction 'max'; valid: ",
            ),
            _e(
                (_t(1, 2, 4, 4), _t(1, 2, 4, 4), 1),
                {"impl": "cuda"},
                ValidationError,
                r"unknown impl 'cuda'; valid: ",
            ),
            _e((_t(1, 0, 4, 4), _t(1, 0, 4, 4), 1), {}, ValidationError, r"must have C, H, W >= 1"),
            _e(
                ([[1.0]], _t(1, 2, 4, 4), 1), {}, DTypeError, r"f1 must be a torch.Tensor, got list"
            ),
        ],
    ),
    OpSpec(
        "cost_volume_1d",
        cost_volume_1d,
        [
            _e(
                (_t(1, 2, 4, 5), _t(1, 2, 5, 5), 3),
                {},
                ShapeError,
                r"left and right must have the same shape",
            ),
            _e(
                (_t(2, 4, 5), _t(2, 4, 5), 3),
                {},
                ShapeError,
                r"left must have shape \(B, C, H, W\)",
            ),
            _e(
                (_t(1, 2, 4, 5), _t(1, 2, 4, 5), 0),
                {},
                ValidationError,
                r"max_disparity must be an int in the range \[1, inf\], got 0",
            ),
            _e(
                (_t(1, 2, 4, 5, dtype=torch.uint8), _t(1, 2, 4, 5, dtype=torch.uint8), 3),
                {},
                DTypeError,
                r"left must be a floating-point tensor, got dtype torch.uint8",
            ),
        ],
    ),
    OpSpec(
        "all_pairs_cost_volume",
        all_pairs_cost_volume,
        [
            _e(
                (_t(1, 2, 4, 5), _t(1, 3, 4, 5)),
                {},
                ShapeError,
                r"f1 and f2 must have the same shape",
            ),
            _e(
                (_t(1, 2, 4, 5, dtype=torch.int64), _t(1, 2, 4, 5, dtype=torch.int64)),
                {},
                DTypeError,
                r"f1 must be a floating-point tensor",
            ),
        ],
    ),
    OpSpec(
        "warp",
        warp,
        [
            _e((_t(3, 4, 5), _t(1, 2, 4, 5)), {}, ShapeError, r"x must have shape \(B, C, H, W\)"),
            _e(
                (_t(1, 3, 4, 5), _t(1, 3, 4, 5)),
                {},
                ShapeError,
                r"flow must have shape \(B, 2, H, W\) = \(1, 2, 4, 5\), got \(1, 3, 4, 5\)",
            ),
            _e(
                (_t(1, 3, 4, 5), _t(1, 2, 4, 6)),
                {},
                ShapeError,
                r"flow must have shape \(B, 2, H, W\) = \(1, 2, 4, 5\), got \(1, 2, 4, 6\)",
            ),
            _e(
                (_t(2, 3, 4, 5), _t(1, 2, 4, 5)),
                {},
                ShapeError,
                r"flow must have shape \(B, 2, H, W\) = \(2, 2, 4, 5\)",
            ),
            _e(
                (_t(1, 3, 4, 5), _t(1, 2, 4, 5, dtype=torch.int64)),
                {},
                DTypeError,
                r"flow must be a floating-point tensor, got dtype torch.int64",
            ),
            _e(
                (_t(1, 3, 4, 5, dtype=torch.int64), _t(1, 2, 4, 5)),
                {},
                DTypeError,
                r"x must be a floating-point tensor",
            ),
        ],
    ),
]
