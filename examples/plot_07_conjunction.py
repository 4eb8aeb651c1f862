"""
Conjunction: where do mimicry and contagion converge?
=====================================================

A region shared by two meta-analyses is one that is significant in both. The conjunction takes
the voxelwise minimum of the thresholded ALE maps (the minimum statistic of Nichols et al.,
2005), so it is exactly as strong as the weaker of the two (:doc:`/theory/ale`). This example
uses the two 30-article NeuroQuery studysets that ship with syntony and small Monte Carlo
settings.
"""

from nilearn import plotting

from syntony.datasets import load_studyset
from syntony.meta import ALE
from syntony.meta.conjunction import conjunction

mimicry, contagion = load_studyset("mimicry"), load_studyset("contagion")
a = ALE(n_iters=300, random_state=1).fit(mimicry).result_
b = ALE(n_iters=300, random_state=2).fit(contagion).result_
print(
    f"significant clusters: mimicry {int(a.maps['clusters'].max())}, "
    f"contagion {int(b.maps['clusters'].max())}"
)

# %%
# At the published level (clusters significant after FWE correction in both maps) the two
# small selections share no voxel:
strict = conjunction([a, b], level="cluster")
print(strict.summary())

# %%
# At the uncorrected cluster-forming level (p < 0.001 in both maps) a few small regions
# appear. This is an exploratory view, not a corrected result.
loose = conjunction([a, b], level="uncorrected")
table = loose.tables["clusters"]
print(table[["size_mm3", "peak_x", "peak_y", "peak_z", "max_min_ale"]].to_string())
plotting.plot_glass_brain(
    loose.image("ale_min"),
    colorbar=True,
    cmap="viridis",
    title="min(ALE) where both are p < 0.001 (uncorrected)",
)

# %%
# The report of the exploratory conjunction:
loose  # noqa: B018
