"""
Meta-analytic connectivity modelling from the left insula
=========================================================

MACM asks which regions tend to be reported together with a seed region: it takes every
article of a reference database with at least one peak inside the seed and runs an ALE on them
(:doc:`/theory/ale`). Here the seed is a 10 mm sphere in the left anterior insula, and the
database is a small selection of NeuroQuery (the articles whose text uses *empathy* or
*empathic*), so that the example runs in seconds; a real MACM uses the whole database and
5,000 Monte Carlo iterations.

NeuroQuery (BSD-3-Clause) does not ship with syntony. The example uses a local copy named by
``SYNTONY_NEUROQUERY_DIR`` or one downloaded earlier with ``syntony fetch neuroquery``; without
either it prints how to get one and stops.
"""

from syntony.datasets import NEUROQUERY, find_local

folder = find_local(NEUROQUERY)
result = None
if folder is None:
    print(
        "NeuroQuery is not on this machine: run `syntony fetch neuroquery` (one download, "
        "checked by SHA-256) or set SYNTONY_NEUROQUERY_DIR to a local copy. Skipping the MACM."
    )

# %%
# Load the database and narrow it down. NeuroQuery records no sample sizes, so every article
# gets ``default_n = 20``, which sets the kernel width; the methods text says so.
if folder is not None:
    from syntony.meta import ALE
    from syntony.meta.databases import load_neuroquery
    from syntony.meta.macm import macm
    from syntony.meta.null import auto_null
    from syntony.meta.roi import sphere_roi
    from syntony.meta.threshold import MonteCarloThreshold

    database = load_neuroquery(folder)
    selection = database.select(terms=["empathy", "empathic"])
    print(database, selection, sep="\n")

    seed = sphere_roi((-38, 16, 2), 10, name="left anterior insula")
    estimator = ALE(
        n_iters=300,
        random_state=0,
        null_method=auto_null,
        cluster_threshold=MonteCarloThreshold(n_maps=50),
    )
    result = macm(seed, selection, default_n=20, estimator=estimator)
    print(result.summary())

# %%
# The co-activation map and its largest clusters.
if folder is not None:
    from nilearn import plotting

    plotting.plot_glass_brain(
        result.ale.image("ale_thresholded"),
        colorbar=True,
        cmap="hot",
        title=f"MACM of the {seed.name} ({len(result.experiment_ids)} articles)",
    )
    columns = ["size_mm3", "peak_x", "peak_y", "peak_z", "max_ale", "p_fwe_size"]
    print(result.clusters[columns].head(8).to_string())

# %%
# The MACM's report, as ``syntony macm`` writes it:
result  # noqa: B018
