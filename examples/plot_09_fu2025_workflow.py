"""
The Fu et al. (2025) workflow on small settings
===============================================

Fu et al. (2025) meta-analysed fMRI experiments of emotional mimicry and of emotional
contagion, took the conjunction of the two ALE maps and both contrasts, and ran a MACM from
each region the two share. Their study list is not public, so
:func:`syntony.meta.workflow.run_fu2025` runs the same chain on open data: two groups of
NeuroQuery articles selected by term counts, with (a selection of) NeuroQuery as the MACM
database. At the end it compares the regions found with those the paper reports.

The settings here are tiny (150 Monte Carlo iterations, 300 permutations, one MACM seed, a
480-article reference for MACM) so that the example runs during the documentation build;
:doc:`/fu2025_workflow` shows the full run. Without a local NeuroQuery copy
(``SYNTONY_NEUROQUERY_DIR`` or ``syntony fetch neuroquery``) the example says so and stops.
"""

from syntony.datasets import NEUROQUERY, find_local

folder = find_local(NEUROQUERY)
result = None
if folder is None:
    print(
        "NeuroQuery is not on this machine: run `syntony fetch neuroquery` or set "
        "SYNTONY_NEUROQUERY_DIR to a local copy. Skipping the workflow."
    )

# %%
# The two groups: articles using *imitation*, *mimicry* or *imitative* but not *empathy* or
# *empathic*, and articles using the latter at least three times but none of the former.
if folder is not None:
    from syntony.meta.databases import load_neuroquery

    database = load_neuroquery(folder)
    imitation = database.select(terms=["imitation", "mimicry", "imitative"])
    empathy_any = database.select(terms=["empathy", "empathic"])
    empathy = database.select(terms=["empathy", "empathic"], min_count=3)
    a_ids = sorted(set(imitation.ids) - set(empathy_any.ids))
    b_ids = sorted(set(empathy.ids) - set(imitation.ids))
    group_a = database.select(ids=a_ids).studyset(default_n=20, name="mimicry")
    group_b = database.select(ids=b_ids).studyset(default_n=20, name="contagion")
    reference = database.select(terms=["emotion", "emotional"], min_count=4)
    print(group_a, group_b, reference, sep="\n")

# %%
# Run the chain: two ALEs, their conjunction, both contrasts, a MACM from the largest shared
# region, and the comparison with the paper.
if folder is not None:
    from syntony.meta.threshold import MonteCarloThreshold
    from syntony.meta.workflow import Fu2025Config, run_fu2025

    config = Fu2025Config(
        n_iters=150,
        n_permutations=300,
        macm_iters=150,
        default_n=20,
        max_rois=1,
        cluster_threshold=MonteCarloThreshold(n_maps=10),
    )
    result = run_fu2025(group_a, group_b, reference, config=config, random_state=0, log=print)
    print(result.summary())

# %%
# Which of the paper's regions this small run finds.
if folder is not None:
    columns = ["analysis", "paper_finding", "aal_labels", "voxels_here", "found_here"]
    print(result.comparison[columns].to_string(index=False))

# %%
# The workflow's report links the two ALEs, the conjunction, the contrast and the MACM network
# and sets the comparison with the paper beside them:
result  # noqa: B018
