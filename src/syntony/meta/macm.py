"""Meta-analytic connectivity modelling (MACM; Robinson et al. 2010, Eickhoff et al. 2010).

For a region of interest, every experiment of a reference database with at least one focus
in the region is taken, and an ALE meta-analysis with family-wise error correction of those
experiments shows which regions are co-activated with it. The open databases record no
sample sizes, so the kernel width follows an explicit ``default_n`` that the methods text
reports. :func:`macm_network` merges the maps of several regions into one network view.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np
import pandas as pd

from syntony._io_utils import write_json, write_text
from syntony._provenance import provenance
from syntony.errors import InputError, ParameterError
from syntony.meta.clusters import cluster_table, label_min_size
from syntony.meta.conjunction import thresholded_ale
from syntony.meta.result_files import read_analysis, read_grid, read_table, write_table
from syntony.meta.results import ALEResult, MapResult, collect_warnings
from syntony.meta.significance import clusters_with_header, mark_significance
from syntony.report import Result, methods_text

if TYPE_CHECKING:
    from syntony.meta.ale import ALE
    from syntony.meta.reference import ReferenceDatabase
    from syntony.meta.roi import ROI
    from syntony.report import Report

__all__ = ["MACMNetwork", "MACMResult", "macm", "macm_network", "macm_regions"]

_REFERENCES = (
    "Robinson JL, Laird AR, Glahn DC, Lovallo WR, Fox PT (2010). Metaanalytic connectivity "
    "modeling: delineating the functional connectivity of the human amygdala. Human Brain "
    "Mapping 31:173-184. doi:10.1002/hbm.20854",
    "Eickhoff SB, Jbabdi S, Caspers S, et al. (2010). Anatomical and functional connectivity "
    "of cytoarchitectonic areas within the human parietal operculum. Journal of Neuroscience "
    "30:6409-6421. doi:10.1523/JNEUROSCI.5664-09.2010",
)
_MACM = "macm.json"


@dataclass(eq=False)
class MACMResult(Result):
    """The co-activation map of one region.

    Attributes
    ----------
    roi : ROI
    experiment_ids : list of str
        The database articles with a focus in the region.
    ale : ALEResult
        ALE + FWE of those articles (maps, cluster table with labels, nulls).
    database : str
    default_n : float
    methods : str
    warnings : list of str
    """

    kind: ClassVar[str] = "macm"
    title: ClassVar[str] = "Meta-analytic connectivity modelling"

    roi: ROI
    experiment_ids: list[str]
    ale: ALEResult
    database: str
    default_n: float
    methods: str
    warnings: list[str] = field(default_factory=list)

    @property
    def clusters(self) -> pd.DataFrame:
        """The co-activation clusters (``significant`` says which survived FWE)."""
        return self.ale.clusters

    @property
    def parameters(self) -> dict[str, Any]:
        return {
            "region": self.roi.name,
            "region_description": self.roi.description,
            "region_voxels": self.roi.n_voxels,
            "database": self.database,
            "default_n": self.default_n,
            "n_articles": len(self.experiment_ids),
            "ale": self.ale.parameters,
        }

    @property
    def provenance(self) -> dict[str, Any]:
        return self.ale.provenance

    def summary(self) -> str:
        ale = self.ale.summary().splitlines()
        return "\n".join(
            [
                f"MACM of {self.roi.name} ({self.roi.n_voxels} voxels): "
                f"{len(self.experiment_ids)} articles of {self.database} with a focus in it "
                f"(N = {self.default_n:g} each)",
                *ale[1:],
            ]
        )

    def _write(self, directory: Path) -> None:
        import nibabel as nib

        self.ale.write_files(directory)
        nib.save(self.roi.image(), directory / "roi.nii.gz")
        write_table(directory / "experiments.tsv", pd.DataFrame({"id": self.experiment_ids}))
        write_text(directory / "methods.md", self.methods + "\n", force=True)
        record = {
            "region": self.roi.name,
            "region_description": self.roi.description,
            "database": self.database,
            "default_n": self.default_n,
            "methods": self.methods,
            "warnings": self.warnings,
            "ale_kind": self.ale.kind,
        }
        write_json(directory / _MACM, record, force=True)

    @classmethod
    def _read(cls, directory: Path, manifest: dict[str, Any]) -> Self:
        import json

        from syntony.meta.roi import ROI

        record = json.loads((directory / _MACM).read_text(encoding="utf-8"))
        ale_type = ALEResult
        if record.get("ale_kind") == "scale":
            from syntony.meta.scale import SCALEResult

            ale_type = SCALEResult
        ale = ale_type(**ALEResult.read_fields(directory))
        grid = read_grid(directory)
        roi = ROI(
            record["region"],
            grid,
            np.asanyarray(_load(directory / "roi.nii.gz").dataobj) > 0,
            record["region_description"],
        )
        ids = read_table(directory / "experiments.tsv", {"id": "str"})["id"].tolist()
        return cls(
            roi=roi, experiment_ids=[str(i) for i in ids], ale=ale, database=record["database"],
            default_n=float(record["default_n"]), methods=record["methods"],
            warnings=list(record.get("warnings", [])),
        )  # fmt: skip

    def _build_report(self, report: Report) -> None:
        from syntony.meta.report_sections import macm_sections

        macm_sections(self, report)

    def __repr__(self) -> str:
        return (
            f"MACMResult({self.roi.name!r}: {len(self.experiment_ids)} experiments, "
            f"{self.ale.n_clusters} clusters above threshold, {self.ale.n_significant} "
            "significant)"
        )


def _load(path: Path) -> Any:
    import nibabel as nib

    return nib.load(path)


@dataclass(eq=False)
class MACMNetwork(MapResult):
    """Several regions' MACM results and their merged network view.

    ``regions``: one :class:`MACMResult` per region, saved in a subdirectory named after the
    region; ``skipped``: regions that could not be analysed, with the reason. Maps:
    ``n_regions`` (how many regions' co-activation maps cover each voxel), ``ale_max``
    (union), ``ale_min`` (every region), ``clusters`` (labels of the union); table
    ``network``: one row per union cluster with its peak, label and the regions covering it.
    """

    kind: ClassVar[str] = "macm-network"
    title: ClassVar[str] = "MACM network"

    regions: list[MACMResult] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def network(self) -> pd.DataFrame:
        return self.tables["network"]

    def summary(self) -> str:
        lines = [
            f"MACM of {len(self.regions)} region(s) over {self.parameters.get('database')}"
            + (f" ({len(self.skipped)} skipped)" if self.skipped else "")
        ]
        for r in self.regions:
            sig = r.ale.n_significant
            lines.append(
                f"  {r.roi.name}: {len(r.experiment_ids)} articles, {r.ale.n_clusters} "
                f"cluster(s) above the cluster-forming threshold, "
                + ("significance not tested" if sig is None else f"{sig} significant")
            )
        n = len(self.network)
        lines.append(f"network (union of the regions' maps): {n} cluster{'s' if n != 1 else ''}")
        return "\n".join(lines)

    def _write_parts(self, directory: Path) -> None:
        for r in self.regions:
            r._write_into(directory / r.roi.name)

    @classmethod
    def _read(cls, directory: Path, manifest: dict[str, Any]) -> Self:
        fields = cls.read_fields(directory)
        regions = [MACMResult.load(directory / name) for name in fields["parameters"]["regions"]]
        skipped = dict(read_analysis(directory).get("skipped", {}))
        return cls(**fields, regions=regions, skipped=skipped)

    def _extra_record(self) -> dict[str, Any]:
        return {"skipped": self.skipped}

    def _build_report(self, report: Report) -> None:
        from syntony.meta.report_sections import network_sections

        network_sections(self, report)


def macm(
    roi: ROI,
    database: ReferenceDatabase,
    *,
    default_n: float,
    estimator: ALE | None = None,
    min_experiments: int = 10,
    labeller: Callable[[np.ndarray], list[str]] | None = None,
    random_state: Any = None,
    checkpoint: Any = None,
    executor: Any = None,
) -> MACMResult:
    """Co-activation ALE of the database articles with a focus in ``roi``.

    Parameters
    ----------
    roi : ROI
        The seed region.
    database : ReferenceDatabase
        NeuroQuery or Neurosynth (or a selection of it).
    default_n : float
        Sample size given to every article (the databases have none).
    estimator : ALE, optional
        A configured, unfitted ALE (or SCALE) estimator; it is cloned per call, so one can
        serve several regions. Default ``ALE(n_iters=5000, null_method=auto_null,
        cluster_threshold=MonteCarloThreshold())``: the selections of a MACM often hold
        thousands of articles, for which the exact histogram null takes hours (see
        :func:`~syntony.meta.null.log_space_null`), and their many overlapping foci make the
        analytic cluster-forming threshold leak (see :mod:`syntony.meta.threshold`).
    min_experiments : int
        Fewer articles than this (and than two) is an error (ALE needs enough experiments to
        be meaningful).
    labeller : callable, optional
        Anatomical labels for the cluster table (overrides the estimator's).
    random_state : int, SeedSequence, SeedTree, optional
        Seed of this region's Monte Carlo null (overrides the estimator's). ``syntony macm``
        and the Fu et al. workflow give region ``name`` the stream
        ``SeedTree(seed).child("macm", name)``.
    checkpoint : Checkpoint or CheckpointSlot, optional
        Saves the finished blocks of this region's Monte Carlo null and reuses those of an
        interrupted run (:mod:`syntony.meta.chunks`; ``syntony macm`` gives region ``k`` slot
        ``k`` of its checkpoint). An estimator whose ``fit`` takes no checkpoint computes its
        null afresh, to the same numbers.
    executor : Executor, optional
        Runs the blocks of this region's Monte Carlo null as tasks (:mod:`syntony.execution`;
        :meth:`ALE.fit <syntony.meta.ale.ALE.fit>`), with the numbers of a run without it.
        For many regions, :func:`macm_regions` runs whole regions as tasks instead.
    """
    from syntony.report import split_references

    if not (np.isfinite(default_n) and default_n > 0):
        raise ParameterError("default_n", "a number > 0", default_n)
    with collect_warnings() as caught:
        ids = [str(i) for i in database.experiments_with_focus_in(roi.image())]
        needed = max(2, int(min_experiments))
        if len(ids) < needed:
            raise InputError(
                f"only {len(ids)} article(s) of {database.name} have a focus in {roi.name} "
                f"({roi.n_voxels} voxels); at least {needed} are needed",
                source=roi.description or roi.name,
            )
        studyset = database.select(ids=ids).studyset(
            default_n=default_n, name=f"MACM {roi.name} ({database.name})"
        )
        est = _clone(estimator if estimator is not None else _default_estimator(), labeller,
                     random_state)  # fmt: skip
        takes = inspect.signature(est.fit).parameters
        options = {"checkpoint": checkpoint, "executor": executor}
        est.fit(studyset, **{k: v for k, v in options.items() if v is not None and k in takes})
    ale: ALEResult = est.result_
    paragraphs, references = split_references(ale.methods)
    methods = methods_text(
        f"Meta-analytic connectivity modelling (Robinson et al., 2010; Eickhoff et al., 2010) "
        f"of {roi.name} ({roi.description}; {roi.volume_mm3:g} mm3): the {len(ids)} articles "
        f"of {database.name} with at least one peak inside the region were meta-analysed "
        f"together. {database.name} records no sample sizes; every article was given "
        f"N = {default_n:g}, which sets the kernel width.",
        *paragraphs,
        references=[*references, *_REFERENCES],
    )
    warnings = list(ale.warnings) + [w for w in caught if w not in ale.warnings]
    return MACMResult(roi, ids, ale, database.name, float(default_n), methods, warnings)


def macm_regions(
    regions: Sequence[ROI],
    database: ReferenceDatabase,
    *,
    default_n: float,
    estimator: ALE | None = None,
    min_experiments: int = 10,
    labeller: Callable[[np.ndarray], list[str]] | None = None,
    random_states: Sequence[Any] | None = None,
    checkpoint: Any = None,
    executor: Any = None,
    skip_errors: bool = False,
    log: Callable[[str], None] | None = None,
) -> tuple[list[MACMResult], dict[str, str]]:
    """:func:`macm` of every region, on this process' threads or on an executor.

    Where the work goes:

    - without an executor, one region after the other, each on this process' threads;
    - with an executor and at least as many regions as it has workers, each region is one task
      (selection, ALE maps, thresholds, its whole Monte Carlo null and cluster tables, on one
      thread of a worker): the regions of an atlas spread over a cluster with no step left in
      this process. The database and the estimator are shipped once per worker;
    - with an executor and fewer regions than workers, one region after the other, each
      region's Monte Carlo blocks being the executor's tasks (many more tasks than regions).

    Every way gives the same numbers: a region's results depend only on its seed stream.

    Parameters
    ----------
    regions : sequence of ROI
        The seed regions (distinct names).
    database, default_n, estimator, min_experiments, labeller
        As for :func:`macm`.
    random_states : sequence, optional
        One seed per region (``syntony macm`` gives region ``name`` the stream
        ``SeedTree(seed).child("macm", name)``); default the estimator's.
    checkpoint : Checkpoint, optional
        Region ``k`` keeps the finished blocks of its null in slot ``k``
        (:mod:`syntony.meta.chunks`). When regions are tasks, a region's blocks saved by an
        interrupted run go with its task and the blocks it computed are saved when it returns.
    executor : Executor, optional
        Where the work goes (:mod:`syntony.execution`), as above.
    skip_errors : bool
        A region with too few articles (an :class:`~syntony.errors.InputError` of
        :func:`macm`) is skipped and reported instead of stopping the run.
    log : callable, optional
        Called with one line of text per region.

    Returns
    -------
    results : list of MACMResult
        In the order of ``regions`` (skipped ones left out).
    skipped : dict
        Name of each skipped region -> the reason.
    """
    from syntony.execution import execution_record
    from syntony.meta.chunks import slot

    say = log or (lambda _m: None)
    regions = list(regions)
    seeds = [None] * len(regions) if random_states is None else list(random_states)
    if len(seeds) != len(regions):
        raise ParameterError("random_states", f"one per region ({len(regions)})", len(seeds))
    slots = [slot(checkpoint, k) for k in range(len(regions))]
    outcome: dict[int, MACMResult | str] = {}
    as_tasks = executor is not None and len(regions) >= max(2, int(executor.n_workers))
    if as_tasks:
        # One thread per task: a worker runs one region at a time.
        template = _clone(estimator if estimator is not None else _default_estimator(), None, None)
        template.n_jobs, template.progress = 1, False
        shared = _RegionShared(database, template, float(default_n), min_experiments, labeller)
        items = [(roi, seed, _saved_chunks(s)) for roi, seed, s in zip(regions, seeds, slots,
                                                                       strict=True)]  # fmt: skip
        say(f"MACM of {len(regions)} regions, one task each")
        for k, (found, chunks) in executor.imap_unordered(_region_task, items, shared=shared):
            for b, arrays in sorted(chunks.items()):
                if slots[k] is not None:
                    slots[k].save(b, **arrays)
            if isinstance(found, str) and not skip_errors:
                raise InputError(found)
            outcome[k] = found
            say(f"  {regions[k].name}: " + (f"skipped: {found}" if isinstance(found, str)
                                             else found.summary().splitlines()[-1]))  # fmt: skip
    else:
        for k, roi in enumerate(regions):
            say(f"MACM from {roi.name} ({roi.n_voxels} voxels)")
            try:
                outcome[k] = macm(
                    roi, database, default_n=default_n, estimator=estimator,
                    min_experiments=min_experiments, labeller=labeller, random_state=seeds[k],
                    checkpoint=slots[k], executor=executor,
                )  # fmt: skip
            except InputError as error:
                if not skip_errors:
                    raise
                outcome[k] = str(error)
                say(f"  skipped: {error}")
                continue
            say(f"  {outcome[k].summary().splitlines()[-1]}")
    results = [outcome[k] for k in range(len(regions)) if not isinstance(outcome[k], str)]
    skipped = {regions[k].name: v for k, v in sorted(outcome.items()) if isinstance(v, str)}
    n_jobs = getattr(estimator, "n_jobs", None)
    for result in results:
        result.ale.provenance["execution"] = execution_record(executor, n_jobs or os.cpu_count())
    return results, skipped


@dataclass(frozen=True, eq=False)
class _RegionShared:
    """What every region task needs (shipped once per worker by the executor)."""

    database: Any
    estimator: Any
    default_n: float
    min_experiments: int
    labeller: Any


class _ChunkMemo:
    """A region task's checkpoint in memory: the chunks an earlier run saved, and new ones.

    A worker may sit on another machine: it neither reads nor writes the checkpoint's files.
    The chunks it computes go back with its result and are saved by the caller.
    """

    directory = None

    def __init__(self, saved: dict[int, dict[str, np.ndarray]]) -> None:
        self.saved = saved
        self.new: dict[int, dict[str, np.ndarray]] = {}

    def done(self) -> set[int]:
        return set(self.saved) | set(self.new)

    def save(self, k: int, **arrays: np.ndarray) -> None:
        self.new[int(k)] = {name: np.array(a) for name, a in arrays.items()}

    def load(self, k: int) -> dict[str, np.ndarray]:
        return self.saved[k] if k in self.saved else self.new[k]


def _saved_chunks(store: Any) -> dict[int, dict[str, np.ndarray]]:
    """The chunks a checkpoint slot holds (an unreadable one is left to be computed again)."""
    import zipfile

    saved: dict[int, dict[str, np.ndarray]] = {}
    for k in sorted(store.done()) if store is not None else ():
        try:
            saved[k] = dict(store.load(k))
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
            continue
    return saved


def _region_task(item: tuple[Any, Any, dict], shared: _RegionShared) -> tuple[Any, dict]:
    """One region's MACM on one thread: its result (or why it has none) and its new chunks."""
    roi, seed, saved = item
    memo = _ChunkMemo(saved)
    try:
        found: MACMResult | str = macm(
            roi, shared.database, default_n=shared.default_n, estimator=shared.estimator,
            min_experiments=shared.min_experiments, labeller=shared.labeller,
            random_state=seed, checkpoint=memo,
        )  # fmt: skip
    except InputError as error:  # sent back as text: the exception need not travel
        found = str(error)
    return found, memo.new


def _default_estimator() -> ALE:
    """:func:`macm`'s estimator when none is given (see its ``estimator``)."""
    from syntony.meta.ale import ALE
    from syntony.meta.null import auto_null
    from syntony.meta.threshold import MonteCarloThreshold

    return ALE(n_iters=5000, null_method=auto_null, cluster_threshold=MonteCarloThreshold())


def _clone(est: Any, labeller: Any, random_state: Any) -> Any:
    params = {k: v for k, v in vars(est).items() if not k.endswith("_")}
    if labeller is not None:
        params["labeller"] = labeller
    if random_state is not None:
        params["random_state"] = random_state
    return type(est)(**params)


def macm_network(
    results: Sequence[MACMResult],
    *,
    level: str = "cluster",
    min_cluster_mm3: float = 0.0,
    labeller: Callable[[np.ndarray], list[str]] | None = None,
    skipped: dict[str, str] | None = None,
) -> MACMNetwork:
    """Merge several regions' MACM maps into one network view (the regions kept as parts).

    Maps: ``n_regions`` (how many regions' co-activation maps cover each voxel),
    ``ale_max`` (union: the largest thresholded ALE), ``ale_min`` (conjunction of all regions:
    the smallest, 0 unless every region covers the voxel) and ``clusters`` (labels of the
    union). Table ``network``: one row per union cluster with its peak, label and which
    regions cover it (and by how many voxels).

    Parameters
    ----------
    results : sequence of MACMResult
        One per region (at least one), on the same grid.
    level : {"cluster", "uncorrected"}
        Which significance each region's map is thresholded at.
    min_cluster_mm3 : float
        Network clusters smaller than this are dropped.
    labeller : callable, optional
        Anatomical labels of the network clusters' peaks.
    skipped : dict, optional
        Regions that could not be analysed and why (kept for the report).
    """
    results = list(results)
    if not results:
        raise ParameterError("results", "at least one MACM result", 0)
    grid = results[0].ale.grid
    stack = np.stack([thresholded_ale(r.ale, level=level) for r in results])
    covered = stack > 0
    count = covered.sum(axis=0).astype(np.int32)
    ale_max = stack.max(axis=0).astype(np.float32)
    ale_min = np.where(covered.all(axis=0), stack.min(axis=0), 0).astype(np.float32)
    voxel_mm3 = float(np.prod(grid.voxel_size))
    labels = label_min_size(grid, count > 0, int(np.ceil(min_cluster_mm3 / voxel_mm3 - 1e-9)))
    table = cluster_table(grid, labels, ale_max, count.astype(np.float64), 0.0, labeller=labeller)
    table = clusters_with_header(table, fwe=False, contributions=False, labels=labeller is not None)
    table = table.rename(columns={"peak_z_score": "regions_at_peak"}).drop(columns=["mass"])
    table["regions"] = pd.Series(
        [
            "; ".join(
                f"{r.roi.name} ({int(np.sum(covered[k] & (labels == c)))} vox)"
                for k, r in enumerate(results)
                if np.any(covered[k] & (labels == c))
            )
            for c in table["cluster"]
        ],
        dtype="str",
        index=table.index,
    )
    if level == "cluster":
        alphas = sorted({float(r.ale.parameters.get("fwe_alpha", 0.05)) for r in results})
        test = (
            "in a region's clusters significant at cluster-size FWE "
            f"p<{'/'.join(f'{a:g}' for a in alphas)}"
        )
        table = mark_significance(table, True, test)
    else:
        table = mark_significance(
            table, None, "not tested (uncorrected: above a region's cluster-forming threshold)"
        )
    parameters = {
        "regions": [r.roi.name for r in results],
        "n_experiments": [len(r.experiment_ids) for r in results],
        "database": results[0].database,
        "default_n": results[0].default_n,
        "level": level,
        "min_cluster_mm3": min_cluster_mm3,
        "skipped_regions": sorted(skipped or {}),
    }
    what = "FWE-thresholded" if level == "cluster" else "uncorrected thresholded"
    methods = methods_text(
        f"The co-activation maps of {len(results)} region(s) "
        f"({', '.join(r.roi.name for r in results)}) were merged: their {what} ALE maps were "
        "overlaid (number of regions co-activating each voxel, union and minimum across "
        "regions).",
        references=list(_REFERENCES),
    )
    warnings = [w for r in results for w in r.warnings]
    return MACMNetwork(
        grid=grid,
        maps={"n_regions": count, "ale_max": ale_max, "ale_min": ale_min, "clusters": labels},
        tables={"network": table},
        parameters=parameters,
        methods=methods,
        provenance=provenance(parameters=parameters),
        warnings=list(dict.fromkeys(warnings)),
        regions=results,
        skipped=dict(skipped or {}),
    )
