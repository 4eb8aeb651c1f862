"""
ALE meta-analysis of 21 pain experiments
========================================

The pain studyset that ships with syntony (21 fMRI experiments with their sample sizes and 267
foci, from NiMARE's resources) is the classic test case of activation likelihood estimation.
This example runs an ALE with Monte Carlo family-wise error correction, shows the significant
clusters on a glass brain, lists them, and draws the null distributions with their thresholds
(:doc:`/theory/ale`). The Monte Carlo loop uses 1,000 iterations to keep the build quick;
published analyses use 5,000–10,000.
"""

import matplotlib.pyplot as plt
import numpy as np
from nilearn import plotting

from syntony.datasets import load_studyset
from syntony.meta import ALE
from syntony.meta.analyses import peak_labeller

studyset = load_studyset("pain")
print(studyset)

# ``peak_labeller()`` names each cluster's peak with the Harvard-Oxford atlas, falling back to
# AAL where it has no label (the cerebellum, for instance).
ale = ALE(n_iters=1000, random_state=0, labeller=peak_labeller()).fit(studyset)
result = ale.result_
print(result.summary())

# %%
# Clusters significant by their size (cluster-level FWE p < 0.05), on a glass brain. The
# cluster table gives each cluster's peak in MNI and Talairach coordinates, its size and mass,
# both FWE p-values and which experiments contribute to it.
plotting.plot_glass_brain(
    result.image("ale_thresholded"), colorbar=True, cmap="hot", title="ALE, cluster-FWE p < 0.05"
)
columns = [
    "size_mm3",
    "peak_x",
    "peak_y",
    "peak_z",
    "max_ale",
    "p_fwe_size",
    "significant",
    "label",
]
print(result.clusters[columns].head(10).to_string())

# %%
# The Monte Carlo null: for each iteration the largest ALE value, the largest cluster and the
# largest cluster mass of a map whose foci were placed at random. Their 95th percentiles are
# the FWE thresholds.
fwe = result.fwe
fig, axes = plt.subplots(1, 3, figsize=(10, 3), layout="constrained")
for ax, values, label, observed in (
    (axes[0], fwe.max_ale, "max ALE", result.clusters["max_ale"].max()),
    (axes[1], fwe.max_size, "max cluster size (voxels)", result.clusters["size_voxels"].max()),
    (axes[2], fwe.max_mass, "max cluster mass", result.clusters["mass"].max()),
):
    ax.hist(values, bins=40, color="0.6")
    ax.axvline(np.quantile(values, 0.95), color="k", ls="--", label="95th percentile")
    ax.axvline(observed, color="tab:red", label="observed maximum")
    ax.set(xlabel=label)
axes[0].legend(fontsize=8)
print(f"cluster-forming ALE threshold: {result.threshold:.5f}")

# %%
# Every result carries a methods paragraph with its references, ready for a paper.
print(result.methods)

# %%
# ``result.save("ale/")`` writes the maps (float32 NIfTI), the cluster table, the null
# distributions, ``result.json`` and ``report.html``. The report holds glass brains and slices
# of the thresholded maps, an interactive viewer, the cluster table, the contributions, the
# null distributions with their thresholds, the methods and every warning:
result  # noqa: B018
