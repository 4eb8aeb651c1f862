"""ALE kernels: the spatial uncertainty of a reported focus (Eickhoff et al. 2009).

A focus is blurred by a 3-D Gaussian whose width combines between-template and between-subject
uncertainty; the latter shrinks with the square root of the experiment's sample size. The
kernel is built on the voxel grid (each axis with its own voxel size), normalised as scipy's
separable Gaussian filter normalises it, and stored as float32 like NiMARE's. The compiled
passes that add kernels into a map live in :mod:`syntony.meta.accumulate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from syntony.errors import ParameterError

__all__ = [
    "FWHM_TEMPLATE",
    "ALEKernel",
    "KernelBank",
    "ale_fwhm",
    "focus_weights",
    "gaussian_kernel",
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


def focus_weights(
    bank: KernelBank,
    focus_kernel: np.ndarray,
    offsets: np.ndarray,
    voxel_size: Sequence[float] | float,
) -> np.ndarray:
    """1-D kernel weights of foci centred off the voxel grid, (n_foci, 3, max side) float64.

    For a focus at ``voxel + offset``, the offset being at most half a voxel either way on each
    axis, the weights along an axis are the Gaussian at the voxel centres ``i - offset``,
    ``i = -r..r`` (``r = int(4 sigma + 0.5)``), normalised to sum 1 as :func:`gaussian_kernel`
    does, then cropped to the half-width of the focus's kernel in ``bank`` (unused trailing
    entries are 0). With a zero offset they are the weights of :func:`gaussian_kernel` exactly;
    the kernel is the outer product of the three axes.
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
