"""The compiled core of the balanced contrast: sparse MA rows and mean balanced differences.

:func:`mean_balanced_difference` repeats NiMARE's dense float32 computation
``mean over draws of (1 - prod(1 - MA_A)) - (1 - prod(1 - MA_B))`` exactly while visiting only
the voxels an experiment reaches (multiplying by 1 changes no float32 product).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["ma_rows", "mean_balanced_difference"]


@numba.njit(cache=True, nogil=True)
def ma_rows(ijk, foci_start, exp_kernel, values, starts, halves, column, n_entries_hint):
    """Each experiment's MA (max over its foci, float32) at the voxels with ``column >= 0``.

    Returns CSR rows ``(ptr, col, val)``; ``column`` is a flat box volume of column numbers.
    """
    shape_x = column.shape[0]
    shape_y = column.shape[1]
    shape_z = column.shape[2]
    flat = column.reshape(-1)
    n_exp = foci_start.shape[0] - 1
    ptr = np.zeros(n_exp + 1, dtype=np.int64)
    cols = np.empty(n_entries_hint, dtype=np.int64)
    vals = np.empty(n_entries_hint, dtype=np.float32)
    best = np.zeros(flat.size, dtype=np.float32)
    touched = np.empty(flat.size, dtype=np.int64)
    n = 0
    for e in range(n_exp):
        k = exp_kernel[e]
        base = starts[k]
        hx, hy, hz = halves[k, 0], halves[k, 1], halves[k, 2]
        sy, sz = 2 * hy + 1, 2 * hz + 1
        n_touch = 0
        for p in range(foci_start[e], foci_start[e + 1]):
            cx, cy, cz = ijk[p, 0], ijk[p, 1], ijk[p, 2]
            for x in range(max(cx - hx, 0), min(cx + hx, shape_x - 1) + 1):
                for y in range(max(cy - hy, 0), min(cy + hy, shape_y - 1) + 1):
                    row = (x * shape_y + y) * shape_z
                    kb = base + ((x - cx + hx) * sy + (y - cy + hy)) * sz - cz + hz
                    for z in range(max(cz - hz, 0), min(cz + hz, shape_z - 1) + 1):
                        f = row + z
                        if flat[f] < 0:
                            continue
                        v = values[kb + z]
                        if v <= 0:
                            continue
                        if best[f] == 0:
                            touched[n_touch] = f
                            n_touch += 1
                        if v > best[f]:
                            best[f] = v
        if n + n_touch > cols.size:
            grow = max(cols.size * 2, n + n_touch)
            cols2 = np.empty(grow, dtype=np.int64)
            vals2 = np.empty(grow, dtype=np.float32)
            cols2[:n] = cols[:n]
            vals2[:n] = vals[:n]
            cols, vals = cols2, vals2
        for t in range(n_touch):
            f = touched[t]
            cols[n] = flat[f]
            vals[n] = best[f]
            best[f] = 0
            n += 1
        ptr[e + 1] = n
    return ptr, cols[:n], vals[:n]


@numba.njit(cache=True, nogil=True)
def _mean_difference(ptr1, col1, val1, ptr2, col2, val2, idx1, idx2, n_cols):
    """Mean over the rows of ``idx1``/``idx2`` of ``ALE(group 1 draw) - ALE(group 2 draw)``.

    ALE is ``1 - prod(1 - MA)`` in float32, the product taken in draw order, and the mean is
    accumulated in float32: the same numbers as NiMARE's dense arrays (multiplying by 1 where
    an experiment has no MA changes nothing, so only touched voxels are visited).
    """
    one = np.float32(1.0)
    diff = np.zeros(n_cols, dtype=np.float32)
    prod1 = np.ones(n_cols, dtype=np.float32)
    prod2 = np.ones(n_cols, dtype=np.float32)
    stamp = np.zeros(n_cols, dtype=np.int64)
    touched = np.empty(n_cols, dtype=np.int64)
    for d in range(idx1.shape[0]):
        tag = d + 1
        n_t = 0
        for g in range(2):
            idx = idx1 if g == 0 else idx2
            ptr = ptr1 if g == 0 else ptr2
            col = col1 if g == 0 else col2
            val = val1 if g == 0 else val2
            for r in range(idx.shape[1]):
                e = idx[d, r]
                for t in range(ptr[e], ptr[e + 1]):
                    c = col[t]
                    if stamp[c] != tag:
                        stamp[c] = tag
                        prod1[c] = one
                        prod2[c] = one
                        touched[n_t] = c
                        n_t += 1
                    if g == 0:
                        prod1[c] = prod1[c] * (one - val[t])
                    else:
                        prod2[c] = prod2[c] * (one - val[t])
        for t in range(n_t):
            c = touched[t]
            diff[c] = diff[c] + ((one - prod1[c]) - (one - prod2[c]))
    count = np.float32(idx1.shape[0])
    for c in range(n_cols):
        diff[c] = diff[c] / count
    return diff


def mean_balanced_difference(rows_a, rows_b, idx_a: np.ndarray, idx_b: np.ndarray, n_cols: int):
    """Mean balanced ALE difference of the draws ``idx_a`` / ``idx_b`` (float32, n_cols).

    ``rows_a``/``rows_b`` are each group's MA rows ``(ptr, col, val)`` on the coverage voxels.
    """
    return _mean_difference(*rows_a, *rows_b, np.ascontiguousarray(idx_a, dtype=np.int64),
                            np.ascontiguousarray(idx_b, dtype=np.int64), n_cols)  # fmt: skip
