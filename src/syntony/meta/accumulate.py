"""Compiled passes that add experiments' kernels into a volume of ``log(1 - MA)`` sums.

ALE is ``1 - prod_e (1 - MA_e)``, so a map is built as the sum over experiments of
``log(1 - MA_e)``, where ``MA_e`` is the voxelwise maximum of experiment ``e``'s kernels
(Turkeltaub et al. 2012). Every pass here gives each voxel its experiments' minima of
``log1p(-kernel)`` in experiment order, which is the sum NiMARE forms:

- :func:`accumulate_log_ma_into`: the reference pass on a box volume with a scratch volume
  (observed maps, contrast groups, the reference of the tests);
- :func:`accumulate_rows_into`: the same sums row by row on a z-padded volume, with the kernels
  in :meth:`~syntony.meta.kernel.KernelBank.folded` form (the Monte Carlo loop);
- :func:`subvoxel_maps`: kernels centred at the foci's exact positions
  (:func:`~syntony.meta.kernel.focus_weights`), with each experiment's MA histogram.

The kernels themselves are built in :mod:`syntony.meta.kernel`.
"""

from __future__ import annotations

import numba
import numpy as np

from syntony.meta.null import nearest_bin

__all__ = [
    "accumulate_log_ma",
    "accumulate_log_ma_into",
    "accumulate_rows_into",
    "subvoxel_maps",
]


@numba.njit(cache=True, nogil=True)
def accumulate_log_ma(volume, ijk, foci_start, exp_kernel, log_values, starts, halves):
    """Add ``log(1 - MA_e)`` of every experiment to ``volume`` (see :func:`accumulate_log_ma_into`)."""
    scratch = np.zeros(volume.shape, dtype=np.float64)
    accumulate_log_ma_into(volume, scratch, ijk, foci_start, exp_kernel, log_values, starts, halves)


@numba.njit(cache=True, nogil=True)
def accumulate_log_ma_into(
    volume, scratch, ijk, foci_start, exp_kernel, log_values, starts, halves
):
    """Add ``log(1 - MA_e)`` of every experiment to ``volume`` (in place).

    ``MA_e`` is the voxelwise maximum of experiment ``e``'s kernels (Turkeltaub 2012), so
    ``log(1 - MA_e)`` is the minimum of the precomputed ``log1p(-kernel)`` values. A focus whose
    kernel overlaps no other focus of its experiment adds its logs straight into the volume;
    overlapping foci first take their minimum in ``scratch`` (all zeros on entry and on exit);
    each (x, y) row records the z span they reached, and once the experiment is done those
    spans are added once and cleared. Every voxel thus receives each experiment's minimum
    exactly once, in experiment order (adding 0.0 elsewhere changes nothing), which is the sum
    NiMARE forms. ``1 - exp(volume)`` is ALE.

    Parameters
    ----------
    volume, scratch : float64 arrays (nx, ny, nz)
        Running sum of logs; zero-filled scratch of the same shape. Kernels are clipped to the
        box.
    ijk : int array (n_foci, 3)
        Focus voxels in the volume's index space (may lie outside it).
    foci_start : int array (n_experiments + 1,)
        Foci of experiment ``e`` are rows ``foci_start[e]:foci_start[e + 1]``.
    exp_kernel, log_values, starts, halves : arrays
        The packed :class:`~syntony.meta.kernel.KernelBank`.
    """
    nx, ny, nz = volume.shape
    flat = volume.reshape(-1)
    low = scratch.reshape(-1)
    span_lo = np.full(nx * ny, nz, dtype=np.int64)
    span_hi = np.full(nx * ny, -1, dtype=np.int64)
    rows = np.empty(nx * ny, dtype=np.int64)
    for e in range(foci_start.shape[0] - 1):
        k = exp_kernel[e]
        base = starts[k]
        hx, hy, hz = halves[k, 0], halves[k, 1], halves[k, 2]
        sy, sz = 2 * hy + 1, 2 * hz + 1
        f0, f1 = foci_start[e], foci_start[e + 1]
        n_rows = 0
        for p in range(f0, f1):
            cx, cy, cz = ijk[p, 0], ijk[p, 1], ijk[p, 2]
            alone = True
            for q in range(f0, f1):
                if (
                    q != p
                    and abs(ijk[q, 0] - cx) <= 2 * hx
                    and abs(ijk[q, 1] - cy) <= 2 * hy
                    and abs(ijk[q, 2] - cz) <= 2 * hz
                ):
                    alone = False
                    break
            xlo, xhi = max(cx - hx, 0), min(cx + hx, nx - 1)
            ylo, yhi = max(cy - hy, 0), min(cy + hy, ny - 1)
            zlo, zhi = max(cz - hz, 0), min(cz + hz, nz - 1)
            if xlo > xhi or ylo > yhi or zlo > zhi:
                continue
            width = zhi - zlo + 1
            for x in range(xlo, xhi + 1):
                for y in range(ylo, yhi + 1):
                    kb = base + ((x - cx + hx) * sy + (y - cy + hy)) * sz + (zlo - cz + hz)
                    r = x * ny + y
                    vb = r * nz + zlo
                    # Row views indexed from 0 let LLVM vectorise the inner loops.
                    logs = log_values[kb : kb + width]
                    if alone:
                        row = flat[vb : vb + width]
                        for t in range(width):
                            row[t] += logs[t]
                        continue
                    mins = low[vb : vb + width]
                    for t in range(width):
                        v = logs[t]
                        mins[t] = v if v < mins[t] else mins[t]
                    if span_hi[r] < 0:
                        rows[n_rows] = r
                        n_rows += 1
                        span_lo[r], span_hi[r] = zlo, zhi
                    else:
                        span_lo[r], span_hi[r] = min(span_lo[r], zlo), max(span_hi[r], zhi)
        for i in range(n_rows):
            r = rows[i]
            a, b = r * nz + span_lo[r], r * nz + span_hi[r] + 1
            row = flat[a:b]
            mins = low[a:b]
            for t in range(b - a):
                row[t] += mins[t]
                mins[t] = 0.0
            span_lo[r], span_hi[r] = nz, -1


@numba.njit(cache=True, nogil=True, inline="always")
def _row_add(flat, at, logs, k0, width):
    # Views indexed from 0 let LLVM drop the negative-index branch and vectorise the row.
    row = flat[at : at + width]
    values = logs[k0 : k0 + width]
    for t in range(width):
        row[t] += values[t]


@numba.njit(cache=True, nogil=True, inline="always")
def _row_min(acc, at, logs, k0, width):
    row = acc[at : at + width]
    values = logs[k0 : k0 + width]
    for t in range(width):
        v = values[t]
        row[t] = v if v < row[t] else row[t]


@numba.njit(cache=True, nogil=True, inline="always")
def _root(parent, t):
    while parent[t] != t:
        parent[t] = parent[parent[t]]
        t = parent[t]
    return t


@numba.njit(cache=True, nogil=True)
def accumulate_rows_into(
    flat, dims, ijk, foci_start, exp_kernel, logs, starts, widths, halves, row_lo, row_hi,
    parent, members, cover, acc,
):  # fmt: skip
    """Add ``log(1 - MA_e)`` of every experiment to a z-padded volume, row by row.

    The same sums as :func:`accumulate_log_ma_into` (each voxel receives its experiments'
    minima in experiment order, so the result is identical to the last bit), organised for
    speed: kernels in the :meth:`~syntony.meta.kernel.KernelBank.folded` form, z rows of whole vector lanes, and
    no scratch volume. Foci of an experiment whose windows overlap no other focus add their
    rows straight in; each group of mutually overlapping foci is swept row by row (x, then
    y): a row reached by one focus is added directly, a row reached by several takes their
    minimum in the small buffer ``acc`` first, which is then added once.

    Parameters
    ----------
    flat : float64 array
        The volume, C order ``(nx, ny, nzp)`` flattened; box voxel ``(x, y, z)`` is at
        ``(x * ny + y) * nzp + z + zoff``.
    dims : int array (4,)
        ``nx, ny, nzp, zoff``; ``zoff`` >= the largest z half-width and ``nzp`` >= ``nz + zoff
        + max(widths)``, so no row leaves the padding.
    ijk : int array (n_foci, 3)
        Focus voxels, grouped by experiment, inside the box in z (x and y are clipped).
    foci_start, exp_kernel, halves : int arrays
        Experiment grouping and kernels as for :func:`accumulate_log_ma_into`.
    logs, starts, widths : arrays
        :meth:`~syntony.meta.kernel.KernelBank.folded`.
    row_lo, row_hi : int arrays (nx, ny)
        Lowest and highest z of the voxels that will be read on each row (empty: lo > hi);
        rows whose window misses that range are skipped.
    parent, members, cover : int64 arrays (max foci per experiment,); acc : float64 (nzp,)
        Scratch.
    """
    nx, ny, nzp, zoff = dims[0], dims[1], dims[2], dims[3]
    for e in range(foci_start.shape[0] - 1):
        k = exp_kernel[e]
        base, width = starts[k], widths[k]
        hx, hy, hz = halves[k, 0], halves[k, 1], halves[k, 2]
        f0, n = foci_start[e], foci_start[e + 1] - foci_start[e]
        # Groups of foci whose windows overlap (union-find; the root is the lowest index).
        for a in range(n):
            parent[a] = a
        for a in range(n):
            ax, ay, az = ijk[f0 + a, 0], ijk[f0 + a, 1], ijk[f0 + a, 2]
            for b in range(a + 1, n):
                if (
                    abs(ijk[f0 + b, 0] - ax) <= 2 * hx
                    and abs(ijk[f0 + b, 1] - ay) <= 2 * hy
                    and abs(ijk[f0 + b, 2] - az) <= 2 * hz
                ):
                    ra, rb = _root(parent, a), _root(parent, b)
                    if ra != rb:
                        parent[max(ra, rb)] = min(ra, rb)
        for a in range(n):
            if _root(parent, a) != a:
                continue
            m = 0
            for b in range(a, n):
                if _root(parent, b) == a:
                    members[m] = f0 + b
                    m += 1
            if m == 1:
                cx, cy, cz = ijk[f0 + a, 0], ijk[f0 + a, 1], ijk[f0 + a, 2]
                for x in range(max(cx - hx, 0), min(cx + hx, nx - 1) + 1):
                    kx = base + abs(x - cx) * (hy + 1) * width
                    for y in range(max(cy - hy, 0), min(cy + hy, ny - 1) + 1):
                        if cz + hz < row_lo[x, y] or cz - hz > row_hi[x, y]:
                            continue
                        at = (x * ny + y) * nzp + cz - hz + zoff
                        _row_add(flat, at, logs, kx + abs(y - cy) * width, width)
                continue
            # Sort the group by x; sweeping x, the foci reaching plane x are a contiguous run.
            for t in range(1, m):
                v = members[t]
                u = t - 1
                while u >= 0 and ijk[members[u], 0] > ijk[v, 0]:
                    members[u + 1] = members[u]
                    u -= 1
                members[u + 1] = v
            first, last = 0, 0
            for x in range(
                max(ijk[members[0], 0] - hx, 0), min(ijk[members[m - 1], 0] + hx, nx - 1) + 1
            ):
                while last < m and ijk[members[last], 0] - hx <= x:
                    last += 1
                while first < last and ijk[members[first], 0] + hx < x:
                    first += 1
                y0, y1 = ny, -1
                for t in range(first, last):
                    y0 = min(y0, ijk[members[t], 1] - hy)
                    y1 = max(y1, ijk[members[t], 1] + hy)
                for y in range(max(y0, 0), min(y1, ny - 1) + 1):
                    lo, hi = row_lo[x, y], row_hi[x, y]
                    c = 0
                    z0, z1 = nzp, -nzp
                    for t in range(first, last):
                        p = members[t]
                        cz = ijk[p, 2]
                        if abs(y - ijk[p, 1]) <= hy and cz + hz >= lo and cz - hz <= hi:
                            cover[c] = p
                            c += 1
                            z0 = min(z0, cz - hz)
                            z1 = max(z1, cz - hz + width)
                    if c == 0:
                        continue
                    at = (x * ny + y) * nzp + zoff
                    if c == 1:
                        p = cover[0]
                        k0 = base + (abs(x - ijk[p, 0]) * (hy + 1) + abs(y - ijk[p, 1])) * width
                        _row_add(flat, at + ijk[p, 2] - hz, logs, k0, width)
                        continue
                    span = z1 - z0
                    acc[:span] = 0.0
                    for t in range(c):
                        p = cover[t]
                        k0 = base + (abs(x - ijk[p, 0]) * (hy + 1) + abs(y - ijk[p, 1])) * width
                        _row_min(acc, ijk[p, 2] - hz - z0, logs, k0, width)
                    _row_add(flat, at + z0, acc, 0, span)


@numba.njit(cache=True)
def subvoxel_maps(index, ijk, weights, foci_start, halves_exp, inv_step, n_small):
    """Observed-map pass with sub-voxel kernels: log-sums and per-experiment MA histograms.

    Parameters
    ----------
    index : int array (nx, ny, nz)
        In-mask position of each box voxel (-1 outside the mask).
    ijk : int array (n_foci, 3)
        Nearest voxel of each focus in the box (grouped by experiment; may be outside).
    weights : float64 array (n_foci, 3, side)
        :func:`~syntony.meta.kernel.focus_weights` of the foci.
    foci_start, halves_exp : int arrays
        Experiment grouping and each experiment's kernel half-widths.
    inv_step, n_small : float, int
        Histogram bins: nearest multiple of ``1 / inv_step``, ``n_small`` bins.

    Returns
    -------
    logs : float64 (n_mask,)
        Sum over experiments of log(1 - MA_e) at each in-mask voxel (experiment order).
    counts : int64 (n_experiments, n_small)
        In-mask MA values of each experiment per bin (zeros in bin 0).
    peak : float32 (n_experiments,)
        Largest MA of each experiment.
    """
    nx, ny, nz = index.shape
    n_exp = foci_start.shape[0] - 1
    n_mask = 0
    for x in range(nx):
        for y in range(ny):
            for z in range(nz):
                if index[x, y, z] >= 0:
                    n_mask += 1
    logs = np.zeros(n_mask)
    counts = np.zeros((n_exp, n_small), dtype=np.int64)
    peak = np.zeros(n_exp, dtype=np.float32)
    ma = np.zeros(n_mask, dtype=np.float32)
    stamp = np.zeros(n_mask, dtype=np.int64)
    touched = np.empty(n_mask, dtype=np.int64)
    for e in range(n_exp):
        hx, hy, hz = halves_exp[e, 0], halves_exp[e, 1], halves_exp[e, 2]
        n_touch = 0
        for p in range(foci_start[e], foci_start[e + 1]):
            cx, cy, cz = ijk[p, 0], ijk[p, 1], ijk[p, 2]
            for x in range(max(cx - hx, 0), min(cx + hx, nx - 1) + 1):
                wx = weights[p, 0, x - cx + hx]
                for y in range(max(cy - hy, 0), min(cy + hy, ny - 1) + 1):
                    wxy = wx * weights[p, 1, y - cy + hy]
                    for z in range(max(cz - hz, 0), min(cz + hz, nz - 1) + 1):
                        col = index[x, y, z]
                        if col < 0:
                            continue
                        v = np.float32(wxy * weights[p, 2, z - cz + hz])
                        if stamp[col] != e + 1:
                            stamp[col] = e + 1
                            ma[col] = v
                            touched[n_touch] = col
                            n_touch += 1
                        elif v > ma[col]:
                            ma[col] = v
        best = np.float32(0.0)
        for t in range(n_touch):
            col = touched[t]
            v = ma[col]
            best = max(best, v)
            logs[col] += np.log1p(-np.float64(v))
            counts[e, nearest_bin(np.float64(v), inv_step, n_small)] += 1
        counts[e, 0] += n_mask - n_touch
        peak[e] = best
    return logs, counts, peak
