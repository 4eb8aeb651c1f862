"""Report sections of the meta-analysis results: brain maps, viewers, tables and nulls.

Brain figures come from nilearn (glass brains and orthogonal slices drawn to PNG); the
interactive viewer is nilearn's ``view_img`` page, which inlines its scripts and background
image, embedded in a frame. Everything here only reads a result; nothing is computed that the
result does not already hold except the figures themselves.
"""

from __future__ import annotations

import contextlib
import gc
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from syntony.meta.results import ALEResult
    from syntony.meta.space import Grid
    from syntony.report import Report, Section

__all__ = [
    "ale_sections",
    "cluster_display",
    "cluster_tables",
    "glass_brains",
    "map_figures",
    "null_figure",
    "top_contributions",
    "viewer",
]

#: Width of every figure in inches (at 100 dpi: 1,000 px, inside a 1,280 px window).
WIDTH = 10.0
_HIDDEN_COLUMNS = ("contributions",)


@contextlib.contextmanager
def _quiet_nilearn() -> Iterator[None]:
    """Silence nilearn's warnings and keep its forced garbage collections cheap.

    nilearn runs ``gc.collect()`` each time it reads image data; with a large heap (a
    reference database in memory) that costs about half a second per call. Freezing the
    objects that exist now moves them out of the collector's sight for the duration.
    """
    gc.freeze()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        gc.unfreeze()


def _plotting() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from nilearn import plotting
    return plotting


# -- tables ------------------------------------------------------------------------------------
_WHERE = ("cluster", "significant", "label", "size_voxels", "size_mm3", "peak_x", "peak_y",
          "peak_z", "peak_tal_x", "peak_tal_y", "peak_tal_z")  # fmt: skip


def cluster_display(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A cluster table as the report shows it: where the clusters are, and their statistics.

    Two tables that fit the page side by side in width: the first with the significance
    flag, the label, size and peak (MNI and Talairach), the second with the statistics, the
    test and the number of contributing experiments (the long contribution lists stay in
    the files). Values are kept exactly (``data-value`` cells equal the table's); a cluster
    that no test judged shows an empty ``significant`` cell.
    """
    shown = table.drop(columns=[c for c in _HIDDEN_COLUMNS if c in table.columns])
    if "significant" in shown.columns:
        shown = shown.astype({"significant": object})
        shown["significant"] = [None if pd.isna(v) else bool(v) for v in shown["significant"]]
    where = [c for c in _WHERE if c in shown.columns]
    rest = [c for c in shown.columns if c not in where]
    return shown[where], shown[["cluster", *rest]] if "cluster" in shown.columns else shown[rest]


def cluster_tables(section: Section, table: pd.DataFrame, *, name: str, caption: str) -> None:
    """The two display tables of a cluster table (named ``name`` and ``name_statistics``)."""
    where, stats = cluster_display(table)
    section.table(where, caption=caption, name=name, max_rows=25)
    section.table(stats, caption=f"{caption}: statistics", name=f"{name}_statistics",
                  max_rows=25)  # fmt: skip


def top_contributions(frame: pd.DataFrame, *, top: int = 3) -> pd.DataFrame:
    """The ``top`` experiments of each cluster (by share) and how many contribute at all.

    Experiments whose share is below 0.05 % (kernels that only graze the cluster) are not
    counted, as in the cluster table and GingerALE's report.
    """
    rows = []
    for cluster, group in frame[frame["percent"] >= 0.05].groupby("cluster", sort=True):
        ordered = group.sort_values("percent", ascending=False, kind="stable")
        head = ordered.head(top)
        rows.append(
            {
                "cluster": int(cluster),
                "experiments": len(ordered),
                "top_contributors": "; ".join(
                    f"{e} ({v:.1f}%)"
                    for e, v in zip(head["experiment"], head["percent"], strict=True)
                ),
                "top_share_percent": float(head["percent"].sum()),
            }
        )
    return pd.DataFrame(
        rows, columns=["cluster", "experiments", "top_contributors", "top_share_percent"]
    )


# -- brain figures -----------------------------------------------------------------------------
def _peak_mm(grid: Grid, values: np.ndarray) -> tuple[float, float, float]:
    """The peak of the largest connected region of non-zero values (MNI mm)."""
    from syntony.meta.clusters import label_min_size

    values = np.asarray(values)
    labels = label_min_size(grid, values != 0, 1)
    inside = np.flatnonzero(labels == 1) if labels.max(initial=0) > 0 else np.arange(values.size)
    k = int(inside[np.argmax(np.abs(values[inside]))])
    x, y, z = grid.ijk_to_mm(grid.mask_ijk[k])
    return float(x), float(y), float(z)


def glass_brains(
    grid: Grid,
    panels: Sequence[tuple[str, np.ndarray]],
    *,
    signed: bool = False,
    cmap: str | None = None,
) -> Any:
    """One row of glass-brain projections per (title, in-mask map) panel, as one figure."""
    import matplotlib.pyplot as plt

    plotting = _plotting()
    fig, axes = plt.subplots(len(panels), 1, figsize=(WIDTH, 2.9 * len(panels)), squeeze=False)
    for ax, (title, values) in zip(axes[:, 0], panels, strict=True):
        values = np.asarray(values, dtype=np.float32)
        vmax = float(np.max(np.abs(values))) or 1.0
        with _quiet_nilearn():
            plotting.plot_glass_brain(
                grid.to_image(values), axes=ax, figure=fig, display_mode="lyrz", title=title,
                colorbar=True, plot_abs=False, threshold=vmax * 1e-6,
                cmap=cmap or ("cold_hot" if signed else "hot"),
                vmin=-vmax if signed else 0.0, vmax=vmax, symmetric_cbar=signed,
            )  # fmt: skip
    return fig


def map_figures(
    section: Section,
    grid: Grid,
    values: np.ndarray,
    *,
    caption: str,
    signed: bool = False,
    cmap: str | None = None,
) -> None:
    """Glass brain and orthogonal slices (through the peak) of one in-mask map."""
    import matplotlib.pyplot as plt

    plotting = _plotting()
    values = np.asarray(values, dtype=np.float32)
    section.figure(
        glass_brains(grid, [("", values)], signed=signed, cmap=cmap),
        caption=f"Glass brain: {caption}",
    )
    vmax = float(np.max(np.abs(values))) or 1.0
    peak = _peak_mm(grid, values)
    fig = plt.figure(figsize=(WIDTH, 3.3))
    with _quiet_nilearn():
        plotting.plot_stat_map(
            grid.to_image(values), figure=fig, display_mode="ortho", cut_coords=peak,
            colorbar=True, threshold=vmax * 1e-6, cmap=cmap or ("cold_hot" if signed else "hot"),
            vmin=-vmax if signed else 0.0, vmax=vmax, symmetric_cbar=signed,
        )  # fmt: skip
    section.figure(
        fig,
        caption=f"Slices through the peak at ({peak[0]:g}, {peak[1]:g}, {peak[2]:g}) MNI: "
        f"{caption}",
    )


def viewer(
    section: Section, grid: Grid, values: np.ndarray, *, title: str, signed: bool = False
) -> None:
    """An interactive slice viewer (nilearn's ``view_img``; scripts and images inlined)."""
    plotting = _plotting()
    values = np.asarray(values, dtype=np.float32)
    vmax = float(np.max(np.abs(values))) or 1.0
    with _quiet_nilearn():
        view = plotting.view_img(
            grid.to_image(values), threshold=vmax * 1e-6, cmap="cold_hot" if signed else "hot",
            symmetric_cmap=signed, vmax=vmax, title=None, cut_coords=_peak_mm(grid, values),
            black_bg=False, width_view=900,
        )  # fmt: skip
    section.text(f"Shown: {title}. Click in the viewer to move through the slices.")
    section.iframe(view.get_standalone(), height=460, title=title)


def _critical_line(ax: Any, value: float, label: str, colour: str = "#c0392b") -> None:
    ax.axvline(value, color=colour, lw=1.5, ls="--", label=label)


def null_figure(result: ALEResult) -> Any:
    """The analytic null with the cluster-forming threshold, and the Monte Carlo nulls."""
    import matplotlib.pyplot as plt

    from syntony.report import figure_grid

    alpha = float(result.parameters.get("fwe_alpha", 0.05))
    cluster_p = float(result.parameters.get("cluster_p", 0.001))
    null, fwe, thr = result.null, result.fwe, result.threshold

    def analytic(ax: Any) -> None:
        tail = null.tail()
        keep = tail > 0
        ax.semilogy(null.centres[keep], tail[keep], color="#2b6cb0", lw=1.4)
        _critical_line(ax, thr, f"cluster-forming ALE {thr:.4g}")
        ax.axhline(cluster_p, color="#777", lw=0.8, ls=":", label=f"p = {cluster_p:g}")
        ax.set(xlabel="ALE", ylabel="P(ALE ≥ x) under the null", title="Analytic null")
        ax.set_xlim(0, max(thr * 2.5, float(np.max(result.maps["ale"])) * 1.05))
        ax.set_ylim(max(float(tail[keep].min()), cluster_p * 1e-4), 2.0)
        ax.legend(fontsize=8)

    draw = [analytic]
    if fwe is not None:
        critical = fwe.critical(alpha)
        observed_sizes = result.clusters["size_voxels"].to_numpy(dtype=float)

        def max_ale(ax: Any) -> None:
            ax.hist(fwe.max_ale, bins=30, color="#9ab")
            _critical_line(ax, critical["ale"], f"voxel FWE {1 - alpha:.0%} quantile")
            ax.axvline(float(np.max(result.maps["ale"])), color="k", lw=1, label="observed max")
            ax.set(xlabel="largest ALE of a null map", ylabel="iterations", title="Max ALE")
            ax.legend(fontsize=8)

        def max_size(ax: Any) -> None:
            ax.hist(fwe.max_size, bins=30, color="#9ab")
            _critical_line(ax, critical["size"], f"cluster-size FWE {1 - alpha:.0%} quantile")
            if observed_sizes.size:
                ax.plot(observed_sizes, np.zeros_like(observed_sizes), "|", color="k", ms=14,
                        label="observed clusters")  # fmt: skip
            ax.set(xlabel="largest cluster (voxels)", ylabel="iterations",
                   title="Max cluster size")  # fmt: skip
            ax.legend(fontsize=8)

        def max_mass(ax: Any) -> None:
            ax.hist(fwe.max_mass, bins=30, color="#9ab")
            _critical_line(ax, critical["mass"], f"cluster-mass FWE {1 - alpha:.0%} quantile")
            ax.set(xlabel="largest cluster mass", ylabel="iterations", title="Max cluster mass")
            ax.legend(fontsize=8)

        draw += [max_ale, max_size, max_mass]
    fig = figure_grid(draw, ncols=2, width=WIDTH)
    plt.setp(fig.axes, facecolor="white")
    return fig


# -- the ALE report ----------------------------------------------------------------------------
def shown_map(result: ALEResult) -> tuple[np.ndarray, str]:
    """The map a report draws and what it holds."""
    ale = result.maps["ale"]
    alpha = result.parameters.get("fwe_alpha")
    if "ale_thresholded" in result.maps and np.any(result.maps["ale_thresholded"] > 0):
        return result.maps["ale_thresholded"], (
            f"ALE in the clusters significant at cluster-size FWE p < {alpha}"
        )
    above = np.where(ale.astype(np.float64) > result.threshold, ale, 0).astype(np.float32)
    if result.fwe is not None:
        why = f"no cluster is significant at cluster-size FWE p < {alpha}; shown"
    else:
        why = "no Monte Carlo correction was run; shown"
    return above, f"{why}: ALE above the cluster-forming threshold (uncorrected)"


def overview(result: ALEResult) -> dict[str, Any]:
    p = result.parameters
    items: dict[str, Any] = {
        "studyset": p.get("studyset"),
        "experiments": p.get("n_experiments"),
        "foci": p.get("n_foci"),
        "subjects": p.get("n_subjects"),
        "cluster-forming ALE": result.threshold,
        "cluster-forming rule": p.get("cluster_threshold"),
        "clusters above the cluster-forming threshold": result.n_clusters,
        "significant clusters": (
            "not tested (no Monte Carlo iterations)"
            if result.n_significant is None
            else result.n_significant
        ),
        "significance test": result.clusters["significance_test"].iloc[0]
        if len(result.clusters)
        else None,
        "Monte Carlo iterations": p.get("n_iters_run"),
    }
    if result.fwe is not None:
        critical = result.fwe.critical(float(p.get("fwe_alpha", 0.05)))
        items["FWE critical cluster size (voxels)"] = critical["size"]
        items["FWE critical voxel ALE"] = critical["ale"]
    return items


def ale_sections(result: ALEResult, report: Report, *, heading: str = "") -> None:
    """Every section of an ALE report (also used inside MACM and SCALE reports)."""
    grid = result.grid
    report.section(f"{heading}Overview").key_values(overview(result))
    values, caption = shown_map(result)
    maps = report.section(f"{heading}Brain maps")
    if np.any(values > 0):
        map_figures(maps, grid, values, caption=caption)
        viewer(report.section(f"{heading}Interactive viewer"), grid, values, title=caption)
    else:
        maps.text("No voxel exceeds the cluster-forming threshold: there is no map to show.")
    section = report.section(f"{heading}Clusters")
    section.text(
        f"{_sentence(result.counts_text())}. Peaks are given in MNI and in Talairach space "
        "(Lancaster et al., 2007, icbm_other transform). The column 'significant' says which "
        "clusters survived and 'significance_test' by which test."
    )
    if len(result.clusters):
        cluster_tables(section, result.clusters, name="clusters",
                       caption="Clusters above the cluster-forming threshold")  # fmt: skip
    contrib = report.section(f"{heading}Contributions")
    if len(result.contributions):
        contrib.text(
            "The experiments contributing most to each cluster (share of the cluster's ALE "
            "that disappears without the experiment, normalised to 100 %); every share is in "
            "contributions.tsv."
        )
        contrib.table(top_contributions(result.contributions), name="contributions")
    else:
        contrib.text("No cluster, so no contributions.")
    nulls = report.section(f"{heading}Null distributions")
    nulls.figure(
        null_figure(result),
        caption="The analytic null (upper tail) with the cluster-forming threshold; with Monte "
        "Carlo iterations, the null distributions of the largest ALE, cluster size and cluster "
        "mass with their FWE critical values (dashed).",
    )


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def table_or_text(section: Section, frame: pd.DataFrame, *, name: str, caption: str,
                  empty: str) -> None:  # fmt: skip
    """A cluster table, or a sentence when it has no rows."""
    if len(frame):
        cluster_tables(section, frame, name=name, caption=caption)
    else:
        section.text(empty)


def key_counts(parameters: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    return {k: parameters.get(k) for k in keys if k in parameters}
