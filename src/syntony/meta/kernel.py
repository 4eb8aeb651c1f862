"""ALE kernels: the spatial uncertainty of a reported focus (Eickhoff et al. 2009).

A focus is blurred by a 3-D Gaussian whose width combines between-template and between-subject
uncertainty; the latter shrinks with the square root of the experiment's sample size. The
kernel is built on the voxel grid (each axis with its own voxel size), normalised as scipy's
separable Gaussian filter normalises it, and stored as float32 like NiMARE's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numba
import numpy as np

from syntony.errors import ParameterError
from syntony.meta.null import nearest_bin

__all__ = [
    "FWHM_TEMPLATE",
    "ALEKernel",
    "KernelBank",
    "accumulate_log_ma",
    "accumulate_log_ma_into",
    "accumulate_rows_into",
    "ale_fwhm",
    "focus_weights",
    "gaussian_kernel",
    "subvoxel_maps",
]

# sqrt(8 ln 2) turns a standard deviation into a FWHM; 2 sqrt(2/pi) turns the expected
# Euclidean distance between matching points into a standard deviation (Eickhoff 2009).
_ED_TO_FWHM = np.sqrt(8.0 * np.log(2.0)) / (2.0 * np.sqrt(2.0 / np.pi))

#: Between-template uncertainty, 5.7 mm expected distance -> FWHM in mm (8.4113 mm).
FWHM_TEMPLATE = 5.7 / (2.0 * np.sqrt(2.0 / np.pi)) * np.sqrt(8.0 * np.log(2.0))
#: Between-subject uncertainty of one subject, 11.6 mm expected distance -> FWHM in mm.
FWHM_SUBJECT_ONE = 11.6 / (2 * np.sqrt(2 / np.pi)) * np.sqrt(8 * np.log(2))

_TRUNCATE = 4.0  # the kernel extends to int(4 sigma + 0.5) voxels, as scipy's filter does
_EPS = np.spacing(1.0)
#: Kernel rows (z) of the folded form are padded with zeros to a multiple of this many values,
#: so that every row is whole vector lanes (4 float64 in a 256-bit register).
ROW_ALIGN = 4


def ale_fwhm(sample_size: float | np.typing.ArrayLike) -> np.ndarray:
    """FWHM in mm of the ALE kernel for experiments with ``sample_size`` subjects.

    ``sqrt(FWHM_template**2 + (FWHM_subject / sqrt(N))**2)`` (Eickhoff et al. 2009).
    """
    n = np.asarray(sample_size, dtype=float)
    if np.any(~np.isfinite(n)) or np.any(n <= 0):
        raise ParameterError("sample_size", "numbers > 0", sample_size)
    subjects = FWHM_SUBJECT_ONE / np.sqrt(n)
    return np.sqrt(subjects**2 + FWHM_TEMPLATE**2)


def _sigma_voxels(fwhm: float, voxel_size: float) -> float:
    # fwhm / (voxel * 2 sqrt(2 ln 2)), written so that for 2 mm voxels the floating-point
    # operations are exactly NiMARE's: it divides by sqrt(prod(zooms)) taken in float32 (NIfTI
    # zooms are float32), which equals sqrt(2 * voxel**2) only at 2 mm; this form is right for
    # every voxel size and bit-identical to NiMARE's at 2 mm.
    scale = float(np.sqrt(np.float32(2.0 * voxel_size**2)))
    return fwhm / scale * np.sqrt(2.0) / (np.sqrt(2.0 * np.log(2.0)) * 2.0)


def _weights_1d(sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter1d

    radius = int(_TRUNCATE * sigma + 0.5)
    delta = np.zeros(2 * radius + 1)
    delta[radius] = 1.0
    # Filtering a unit impulse returns scipy's normalised 1-D Gaussian weights exactly.
    return gaussian_filter1d(delta, sigma, mode="constant", truncate=_TRUNCATE)


def gaussian_kernel(fwhm: float, voxel_size: Sequence[float] | float = 2.0) -> np.ndarray:
    """The 3-D ALE kernel for a FWHM in mm on voxels of ``voxel_size`` mm (float32, odd sides).

    The kernel is the outer product of three normalised 1-D Gaussians (half-width
    ``int(4 sigma + 0.5)`` voxels), cropped to the planes holding values above machine epsilon.
    Its centre is the middle voxel.
    """
    sizes = np.broadcast_to(np.asarray(voxel_size, dtype=float), (3,))
    if not np.isfinite(fwhm) or fwhm <= 0:
        raise ParameterError("fwhm", "a number > 0 (mm)", fwhm)
    if np.any(sizes <= 0):
        raise ParameterError("voxel_size", "numbers > 0 (mm)", voxel_size)
    w = [_weights_1d(_sigma_voxels(float(fwhm), float(s))) for s in sizes]
    # Same order of products as a separable filter applied along axes 0, 1, 2.
    kernel = (w[0][:, None, None] * w[1][None, :, None]) * w[2][None, None, :]
    big = kernel > _EPS
    slices = []
    for axis in range(3):
        keep = np.flatnonzero(big.any(axis=tuple(a for a in range(3) if a != axis)))
        lo, hi = int(keep.min()), int(keep.max())
        centre = (kernel.shape[axis] - 1) // 2
        half = max(centre - lo, hi - centre)  # keep the kernel centred
        slices.append(slice(centre - half, centre + half + 1))
    return kernel[tuple(slices)].astype(np.float32)


@dataclass(frozen=True, eq=False)
class KernelBank:
    """The distinct kernels of an analysis and which one each experiment uses.

    Attributes
    ----------
    kernels : tuple of ndarray
        Distinct float32 kernels (odd sides).
    experiment_kernel : ndarray of int
        For each experiment, the index of its kernel in ``kernels``.
    fwhm : ndarray
        FWHM in mm of each distinct kernel.
    """

    kernels: tuple[np.ndarray, ...]
    experiment_kernel: np.ndarray
    fwhm: np.ndarray
    # Packed form for the compiled loops: log1p(-kernel) in float64, flattened, with the start
    # offset and the half-widths of each kernel.
    log_values: np.ndarray = field(init=False, repr=False)
    log_values_f32: np.ndarray = field(init=False, repr=False)
    values: np.ndarray = field(init=False, repr=False)
    starts: np.ndarray = field(init=False, repr=False)
    half_widths: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "values", np.ascontiguousarray(np.concatenate([k.ravel() for k in self.kernels]))
        )
        # NiMARE takes log1p in float64 inside its Monte Carlo loop but in float32 for the
        # observed map; keeping both makes either result identical to the last bit.
        object.__setattr__(
            self,
            "log_values_f32",
            np.concatenate([np.log1p(-k).astype(np.float64).ravel() for k in self.kernels]),
        )
        logs = [np.log1p(-k.astype(np.float64)).ravel() for k in self.kernels]
        starts = np.concatenate([[0], np.cumsum([v.size for v in logs])]).astype(np.int64)
        halves = np.array([[(s - 1) // 2 for s in k.shape] for k in self.kernels], dtype=np.int64)
        object.__setattr__(self, "log_values", np.ascontiguousarray(np.concatenate(logs)))
        object.__setattr__(self, "starts", starts)
        object.__setattr__(self, "half_widths", halves.reshape(-1, 3))

    def folded(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The logs in the compact form of the Monte Carlo loop: ``(logs, starts, widths)``.

        Kernels are symmetric in x and y, so only the quadrant ``x, y >= centre`` is kept (a
        quarter of the memory, which keeps the kernels in cache); each z row is padded with
        zeros to ``widths[k]`` values, a multiple of :data:`ROW_ALIGN`. Adding 0.0 leaves a
        sum unchanged and ``min(m, 0.0) == m`` for the non-positive logs, so the padding
        changes no result. Row ``(|dx|, |dy|)`` of kernel ``k`` starts at
        ``starts[k] + (|dx| * (hy + 1) + |dy|) * widths[k]``.
        """
        cached = self.__dict__.get("_folded")
        if cached is not None:
            return cached
        parts, starts, widths = [], [0], []
        for kernel in self.kernels:
            if not (
                np.array_equal(kernel, kernel[::-1]) and np.array_equal(kernel, kernel[:, ::-1])
            ):
                raise ParameterError("kernels", "kernels symmetric in x and y", "an asymmetric one")
            hx, hy = (kernel.shape[0] - 1) // 2, (kernel.shape[1] - 1) // 2
            width = -(-kernel.shape[2] // ROW_ALIGN) * ROW_ALIGN
            quadrant = np.zeros((hx + 1, hy + 1, width))
            quadrant[:, :, : kernel.shape[2]] = np.log1p(-kernel[hx:, hy:].astype(np.float64))
            parts.append(quadrant.ravel())
            starts.append(starts[-1] + quadrant.size)
            widths.append(width)
        packed = (
            np.ascontiguousarray(np.concatenate(parts)),
            np.array(starts, dtype=np.int64),
            np.array(widths, dtype=np.int64),
        )
        object.__setattr__(self, "_folded", packed)
        return packed

    def experiment_max(self) -> np.ndarray:
        """Peak MA value of each experiment's kernel (float32), (n_experiments,)."""
        peaks = np.array([k.max() for k in self.kernels], dtype=np.float32)
        return peaks[self.experiment_kernel]


@dataclass(frozen=True)
class ALEKernel:
    """Eickhoff et al. (2009) Gaussian kernel whose width depends on sample size.

    Parameters
    ----------
    fwhm : float, optional
        A fixed FWHM in mm for every experiment (overrides sample sizes).
    sample_size : float, optional
        A fixed sample size for every experiment (overrides the studyset's sample sizes).
        Mutually exclusive with ``fwhm``.
    subvoxel : bool
        Centre each focus's kernel at its exact millimetre position, as GingerALE does,
        instead of at the nearest voxel (NiMARE; the default). The Gaussian is then evaluated
        at voxel centres relative to the focus (see :func:`focus_weights`). It applies to the
        observed map and its analytic null; Monte Carlo foci are voxel centres either way.
    """

    fwhm: float | None = None
    sample_size: float | None = None
    subvoxel: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.subvoxel, bool):
            raise ParameterError("kernel.subvoxel", "True or False", self.subvoxel)
        if self.fwhm is not None and self.sample_size is not None:
            raise ParameterError(
                "kernel", "at most one of fwhm and sample_size", (self.fwhm, self.sample_size)
            )
        if self.fwhm is not None and not (np.isfinite(self.fwhm) and self.fwhm > 0):
            raise ParameterError("kernel.fwhm", "a number > 0 (mm)", self.fwhm)
        if self.sample_size is not None and not (
            np.isfinite(self.sample_size) and self.sample_size > 0
        ):
            raise ParameterError("kernel.sample_size", "a number > 0", self.sample_size)

    def fwhm_for(self, sample_sizes: np.typing.ArrayLike) -> np.ndarray:
        """FWHM in mm for each experiment of the given sample sizes."""
        sizes = np.asarray(sample_sizes, dtype=float)
        if self.fwhm is not None:
            return np.full(sizes.shape, float(self.fwhm))
        if self.sample_size is not None:
            sizes = np.full(sizes.shape, float(self.sample_size))
        return ale_fwhm(sizes)

    def bank(
        self, sample_sizes: np.typing.ArrayLike, voxel_size: Sequence[float] | float
    ) -> KernelBank:
        """Kernels for experiments with ``sample_sizes`` on voxels of ``voxel_size`` mm."""
        widths = self.fwhm_for(sample_sizes)
        unique, index = np.unique(widths, return_inverse=True)
        kernels = tuple(gaussian_kernel(float(w), voxel_size) for w in unique)
        return KernelBank(kernels=kernels, experiment_kernel=index.astype(np.int64), fwhm=unique)

    def describe(self) -> str:
        """One sentence for the methods text."""
        if self.fwhm is not None:
            text = f"a Gaussian kernel with a fixed FWHM of {self.fwhm:g} mm"
        elif self.sample_size is not None:
            text = (
                "a Gaussian kernel whose FWHM corresponds to a sample size of "
                f"{self.sample_size:g} for every experiment (Eickhoff et al., 2009)"
            )
        else:
            text = (
                "Gaussian kernels whose FWHM was derived from each experiment's sample size to "
                "model between-subject and between-template uncertainty (Eickhoff et al., 2009)"
            )
        if self.subvoxel:
            text += ", centred at each focus's exact position rather than the nearest voxel"
        return text


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
        The packed :class:`KernelBank`.
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
    speed: kernels in the :meth:`KernelBank.folded` form, z rows of whole vector lanes, and
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
        :meth:`KernelBank.folded`.
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


def focus_weights(
    bank: KernelBank,
    focus_kernel: np.ndarray,
    offsets: np.ndarray,
    voxel_size: Sequence[float] | float,
) -> np.ndarray:
    """1-D kernel weights of foci centred off the voxel grid, (n_foci, 3, max side) float64.

    For a focus at ``voxel + offset`` (|offset| <= 0.5 voxel on each axis) the weights along an
    axis are the Gaussian at the voxel centres ``i - offset``, ``i = -r..r`` (``r = int(4 sigma
    + 0.5)``), normalised to sum 1 as :func:`gaussian_kernel` does, then cropped to the
    half-width of the focus's kernel in ``bank`` (unused trailing entries are 0). With a zero
    offset they are the weights of :func:`gaussian_kernel` exactly; the kernel is the outer
    product of the three axes.
    """
    sizes = np.broadcast_to(np.asarray(voxel_size, dtype=float), (3,))
    offsets = np.asarray(offsets, dtype=float).reshape(-1, 3)
    side = int(2 * bank.half_widths.max() + 1)
    out = np.zeros((offsets.shape[0], 3, side))
    for k, fwhm in enumerate(bank.fwhm):
        rows = np.flatnonzero(focus_kernel == k)
        if rows.size == 0:
            continue
        for axis in range(3):
            sigma = _sigma_voxels(float(fwhm), float(sizes[axis]))
            radius = int(_TRUNCATE * sigma + 0.5)
            x = np.arange(-radius, radius + 1) - offsets[rows, axis][:, None]
            # Same operations as scipy's 1-D Gaussian weights, one row per focus.
            phi = np.exp(-0.5 / (sigma * sigma) * x**2)
            phi = phi / phi.sum(axis=1, keepdims=True)
            h = int(bank.half_widths[k, axis])
            out[rows, axis, : 2 * h + 1] = phi[:, radius - h : radius + h + 1]
    return out


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
        :func:`focus_weights` of the foci.
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
