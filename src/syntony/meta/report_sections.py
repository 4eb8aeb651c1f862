"""Report sections of the contrast, conjunction, MACM, MACM-network and Fu et al. results.

Built from the primitives of :mod:`syntony.meta.reporting` (brain figures, the viewer, cluster
tables); a result whose parts are saved in subdirectories links their own reports.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from syntony.meta.reporting import (
    WIDTH,
    ale_sections,
    glass_brains,
    map_figures,
    shown_map,
    table_or_text,
    viewer,
)

if TYPE_CHECKING:
    from syntony.meta.conjunction import ConjunctionResult
    from syntony.meta.contrast import ContrastResult
    from syntony.meta.macm import MACMNetwork, MACMResult
    from syntony.meta.workflow import Fu2025Result
    from syntony.report import Report, Section

__all__ = [
    "conjunction_sections",
    "contrast_sections",
    "macm_sections",
    "network_sections",
    "workflow_sections",
]


def _links(section: Section, links: list[tuple[str, str]]) -> None:
    items = "".join(
        f'<li><a href="{html.escape(href, quote=True)}">{html.escape(label)}</a></li>'
        for label, href in links
    )
    section.html(f"<ul>{items}</ul>")


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Missing values as None (an empty cell), not pandas' ``<NA>``."""
    out = frame.astype(object)
    return out.where(frame.notna(), None)


# -- contrast ----------------------------------------------------------------------------------
def _permutation_figure(result: ContrastResult) -> Any:
    import matplotlib.pyplot as plt

    null = np.asarray(result.arrays.get("max_abs_diff", []), dtype=float)
    tested = result.maps["tested"] > 0
    fig, ax = plt.subplots(figsize=(WIDTH * 0.6, 3.0), layout="constrained")
    if null.size:
        ax.hist(null, bins=30, color="#9ab")
        q = float(np.quantile(null, 0.95))
        ax.axvline(q, color="#c0392b", ls="--", lw=1.5, label="95 % quantile")
    if tested.any():
        observed = float(np.max(np.abs(result.maps["diff"][tested])))
        ax.axvline(observed, color="k", lw=1, label="observed max |A - B| (tested voxels)")
    ax.set(xlabel="largest |ALE A - ALE B| over the tested voxels", ylabel="permutations",
           title="Permutation null")  # fmt: skip
    ax.legend(fontsize=8)
    return fig


def contrast_sections(result: ContrastResult, report: Report) -> None:
    p = result.parameters
    a, b = p["group_a"], p["group_b"]
    report.section("Overview").key_values(
        {
            "group A": f"{a['name']} ({a['n_experiments']} experiments, {a['n_foci']} foci)",
            "group B": f"{b['name']} ({b['n_experiments']} experiments, {b['n_foci']} foci)",
            "test": p["test"],
            "permutations": p["n_permutations"],
            "tested voxels": p["n_tested_voxels"],
            "p threshold": p["p_threshold"],
            "smallest cluster (mm3)": p["min_cluster_mm3"],
            "clusters A > B": len(result.tables["clusters_a_gt_b"]),
            "clusters B > A": len(result.tables["clusters_b_gt_a"]),
        }
    )
    grid = result.grid
    z = result.maps["z_thresholded"]
    maps = report.section("Brain maps")
    if np.any(z != 0):
        caption = "signed z of the surviving clusters (warm: A > B, cool: B > A)"
        map_figures(maps, grid, z, caption=caption, signed=True)
        viewer(report.section("Interactive viewer"), grid, z, title=caption, signed=True)
    else:
        maps.text("No cluster survived in either direction: there is no map to show.")
    if p["test"] == "InMainEffects":
        maps.figure(
            glass_brains(
                grid, [("tested voxels", result.maps["tested"].astype(np.float32))], cmap="winter"
            ),
            caption="The voxels tested: those significant in either main effect "
            f"({p['main_effect_level']} level).",
        )
    if "prob_a" in result.maps:  # the balanced contrast's probabilistic maps
        maps.figure(
            glass_brains(
                grid,
                [
                    ("probabilistic map of A", result.maps["prob_a"]),
                    ("probabilistic map of B", result.maps["prob_b"]),
                    ("conjunction (minimum)", result.maps["conjunction"]),
                ],
            ),
            caption="Fraction of equal-size subsamples in which each voxel lies in a surviving "
            "cluster (balanced contrast), and their minimum.",
        )
    for name, title in (("clusters_a_gt_b", "A > B"), ("clusters_b_gt_a", "B > A")):
        section = report.section(f"Clusters {title}")
        table_or_text(section, result.tables[name], name=name, caption=f"Clusters {title}",
                      empty=f"No cluster {title} (the table file holds its header only).")  # fmt: skip
    report.section("Null distribution").figure(
        _permutation_figure(result),
        caption="Largest absolute difference over the tested voxels in each permutation.",
    )


# -- conjunction -------------------------------------------------------------------------------
def conjunction_sections(result: ConjunctionResult, report: Report) -> None:
    p = result.parameters
    report.section("Overview").key_values(
        {
            "maps": " and ".join(p["maps"]),
            "level": p["level"],
            "smallest cluster (mm3)": p["min_cluster_mm3"],
            "voxels in the conjunction": p["n_voxels"],
            "clusters": p["n_clusters"],
        }
    )
    grid = result.grid
    maps = report.section("Brain maps")
    if result.main_effects:
        panels = [(f"{name} (thresholded)", shown_map(r)[0])
                  for name, r in zip(p["maps"], result.main_effects, strict=True)]  # fmt: skip
        maps.figure(glass_brains(grid, panels), caption="The thresholded main effects.")
    if np.any(result.maps["ale_min"] > 0):
        caption = "minimum of the thresholded ALE maps (the conjunction)"
        map_figures(maps, grid, result.maps["ale_min"], caption=caption)
        viewer(report.section("Interactive viewer"), grid, result.maps["ale_min"], title=caption)
    else:
        maps.text("The thresholded maps do not overlap: the conjunction is empty.")
    section = report.section("Clusters")
    table_or_text(section, result.clusters, name="clusters", caption="Conjunction clusters",
                  empty="No conjunction cluster (the table file holds its header only).")  # fmt: skip
    if result.main_effects:
        from syntony.meta.conjunction import main_effect_folder

        links = [(f"{name}: ALE report", f"{main_effect_folder(k)}/report.html")
                 for k, name in enumerate(p["maps"])]  # fmt: skip
        _links(report.section("Main effects"), links)
        for label, href in links:
            report.link(label, href)


# -- MACM --------------------------------------------------------------------------------------
def macm_sections(result: MACMResult, report: Report) -> None:
    roi = result.roi
    section = report.section("Seed region")
    section.key_values(
        {
            "region": roi.name,
            "made from": roi.description,
            "volume (mm3)": roi.volume_mm3,
            "database": result.database,
            "articles with a focus in the region": len(result.experiment_ids),
            "sample size given to each article": result.default_n,
        }
    )
    section.figure(
        glass_brains(roi.grid, [(roi.name, roi.in_mask().astype(np.float32))], cmap="winter"),
        caption=f"The seed region {roi.name} (inside the brain mask).",
    )
    section.text("The articles' ids are listed in experiments.tsv.")
    ale_sections(result.ale, report)


def _region_rows(result: MACMNetwork) -> pd.DataFrame:
    rows = []
    for r in result.regions:
        sig = r.ale.n_significant
        rows.append(
            {
                "region": r.roi.name,
                "voxels": r.roi.n_voxels,
                "articles": len(r.experiment_ids),
                "clusters_above_threshold": r.ale.n_clusters,
                "significant_clusters": sig,
                "significance_test": r.ale.clusters["significance_test"].iloc[0]
                if len(r.ale.clusters)
                else None,
            }
        )
    return pd.DataFrame(rows)


def network_sections(result: MACMNetwork, report: Report) -> None:
    section = report.section("Regions")
    section.text(
        f"{len(result.regions)} seed region(s) over {result.parameters.get('database')}; each "
        "has its own report (co-activation maps, clusters, contributions, nulls)."
    )
    section.table(_region_rows(result), name="regions", caption="Regions")
    links = [(f"{r.roi.name}: MACM report", f"{r.roi.name}/report.html") for r in result.regions]
    _links(section, links)
    for label, href in links:
        report.link(label, href)
    if result.skipped:
        section.table(
            pd.DataFrame({"region": list(result.skipped), "reason": list(result.skipped.values())}),
            name="skipped", caption="Regions not analysed",
        )  # fmt: skip
    grid = result.grid
    maps = report.section("Network maps")
    count = result.maps["n_regions"].astype(np.float32)
    if np.any(count > 0):
        caption = "number of regions whose thresholded co-activation map covers each voxel"
        map_figures(maps, grid, count, caption=caption, cmap="viridis")
        viewer(report.section("Interactive viewer"), grid, result.maps["ale_max"],
               title="largest thresholded ALE over the regions")  # fmt: skip
    else:
        maps.text("No region has a thresholded co-activation map: the network is empty.")
    table_or_text(report.section("Network clusters"), result.network, name="network",
                  caption="Clusters of the union of the regions' maps",
                  empty="No network cluster (the table file holds its header only).")  # fmt: skip


# -- the Fu et al. (2025) workflow -------------------------------------------------------------
def workflow_sections(result: Fu2025Result, report: Report) -> None:
    parts = [
        ("Main effect A", "ale_a/report.html", result.ale_a.summary()),
        ("Main effect B", "ale_b/report.html", result.ale_b.summary()),
        ("Conjunction", "conjunction/report.html", result.conjunction.summary()),
        ("Contrast", "contrast/report.html", result.contrast.summary()),
    ]
    if result.macm_network is not None:
        parts.append(("MACM", "macm/report.html", result.macm_network.summary()))
    section = report.section("Parts")
    section.text("Every step has its own report, saved beside this page:")
    items = "".join(
        f'<li><a href="{href}">{html.escape(label)}</a>: {html.escape(text.splitlines()[0])}</li>'
        for label, href, text in parts
    )
    section.html(f"<ul>{items}</ul>")
    for label, href, _ in parts:
        report.link(label, href)
    if result.skipped_rois:
        section.table(
            pd.DataFrame(
                {"region": list(result.skipped_rois), "reason": list(result.skipped_rois.values())}
            ),
            name="skipped", caption="MACM seeds not analysed",
        )  # fmt: skip
    comparison = report.section("Comparison with the paper")
    comparison.text(
        "Each region Fu et al. (2025) report, and how many voxels of the corresponding map "
        "here carry its AAL labels."
    )
    comparison.table(_plain(result.comparison), name="comparison", caption="Paper versus this run")
    grid = result.ale_a.grid
    panels = [
        (f"A: {result.ale_a.parameters.get('studyset')}", shown_map(result.ale_a)[0]),
        (f"B: {result.ale_b.parameters.get('studyset')}", shown_map(result.ale_b)[0]),
        ("Conjunction (minimum ALE)", result.conjunction.maps["ale_min"]),
    ]
    maps = report.section("Brain maps")
    maps.figure(glass_brains(grid, panels), caption="Main effects and their conjunction.")
    z = result.contrast.maps["z_thresholded"]
    if np.any(z != 0):
        maps.figure(
            glass_brains(grid, [("Contrast (signed z: A > B warm, B > A cool)", z)], signed=True),
            caption="Surviving contrast clusters.",
        )
    if result.macm_network is not None and np.any(result.macm_network.maps["n_regions"] > 0):
        maps.figure(
            glass_brains(
                grid,
                [("MACM network (regions per voxel)", result.macm_network.maps["n_regions"])],
                cmap="viridis",
            ),
            caption="Regions co-activated with the conjunction clusters.",
        )
    table_or_text(report.section("Conjunction clusters"), result.conjunction.clusters,
                  name="conjunction", caption="Conjunction clusters",
                  empty="The conjunction is empty.")  # fmt: skip
