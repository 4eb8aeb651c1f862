"""
The crowd filter: shared priors as a Kalman filter
==================================================

Equations (3)–(5) of the model describe a crowd's interoceptive priors as the state of a Kalman
filter: the gain K(t) says how much the crowd's predictions move toward what the bodies report.
This example checks the three facts that prediction P6 and the closed forms of
:doc:`/theory/model` state:

* without process noise the precisions add up, so the gain falls like 1/t (the priors harden);
* with process noise q and sensory noise r the gain settles at
  :math:`K_\\infty = (-\\ell + \\sqrt{\\ell^2 + 4\\ell})/2`, :math:`\\ell = q/r`;
* the gain tends to 1 as the sensory noise vanishes and to 0 as it grows.
"""

import matplotlib.pyplot as plt
import numpy as np

from syntony.model import CrowdFilter, prior_cov_from_synchrony, steady_state_gain

rng = np.random.default_rng(0)
n, n_steps = 40, 200

# %%
# The crowd's initial uncertainty comes from physiological synchrony: people whose bodies move
# together hold correlated priors, :math:`\Sigma_0 = \rho_{ij}\sqrt{\sigma_i\sigma_j}`. Here
# everybody is synchronised with everybody else at :math:`\rho = 0.3`.
rho = np.full((n, n), 0.3)
np.fill_diagonal(rho, 1.0)
prior_cov = prior_cov_from_synchrony(rho, np.ones(n))

# A common arousal level that drifts slowly, read by every body with noise.
level = np.cumsum(rng.normal(0, 0.05, n_steps))
observations = level[:, None] + rng.normal(0, 1.0, (n_steps, n))

# %%
# Without process noise, with process noise, and for a range of sensory noise levels.
# :meth:`~syntony.model.CrowdFilter.run` returns a :class:`~syntony.model.CrowdFilterResult`
# whose ``dataset`` holds the priors, their variances and the mean gain over time.
hardening = CrowdFilter(np.eye(n)).run(observations, prior_mean=np.zeros(n), prior_cov=prior_cov)
q, r = 0.05, 1.0
volatile = CrowdFilter(r * np.eye(n), process_noise=q * np.eye(n)).run(
    observations, prior_mean=np.zeros(n), prior_cov=prior_cov
)
gain_hard, gain_volatile = hardening.dataset["mean_gain"], volatile.dataset["mean_gain"]
print("algorithm:", hardening.dataset.attrs["algorithm"], "/", volatile.dataset.attrs["algorithm"])
print(f"final gain with q = {q}: {float(gain_volatile[-1]):.4f}")
print(f"closed form K_inf:       {float(steady_state_gain(q, r)):.4f}")

noise_levels = np.logspace(-3, 3, 13)
first_gain = [
    float(
        CrowdFilter(s * np.eye(n))
        .run(observations[:1], prior_mean=np.zeros(n), prior_cov=prior_cov)
        .dataset["mean_gain"][0]
    )
    for s in noise_levels
]

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), layout="constrained")
t = np.arange(1, n_steps + 1)
axes[0].loglog(t, gain_hard, label="q = 0: priors harden")
axes[0].loglog(t, gain_volatile, label=f"q = {q}")
axes[0].axhline(float(steady_state_gain(q, r)), color="k", ls=":", label="closed-form $K_\\infty$")
axes[0].set(xlabel="step", ylabel="mean gain trace(K)/N", title="gain over time")
axes[0].legend()
axes[1].semilogx(noise_levels, first_gain, "o-")
axes[1].set(
    xlabel="sensory noise variance",
    ylabel="mean gain at the first step",
    title="K → 1 as noise → 0, K → 0 as noise → ∞",
)

# %%
# The result's own summary and report (what ``syntony simulate builtin:crowd_filter`` writes):
print(volatile.summary())
volatile  # noqa: B018
