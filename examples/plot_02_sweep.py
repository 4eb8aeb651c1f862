"""
A small parameter sweep
=======================

:func:`syntony.model.sweep` runs one scenario over a grid of parameter values (dotted keys, as
in ``syntony simulate --set``), optionally with several replicates per point, and stacks the
crowd's summaries along one dimension per swept key. Run *(k, r)* always draws from its own
named seed stream, so the numbers do not depend on how many processes run the sweep.

Here we vary the strength of the breathing pacer of the ``synchronized_breathing`` scenario,
with the pacer shared in phase or not, and look at how synchronised and how defensive the crowd
ends up.
"""

import matplotlib.pyplot as plt

from syntony.model import Scenario, sweep

scenario = Scenario.builtin("synchronized_breathing")
grid = {
    "events.1.amplitude": [0.0, 0.5, 1.0, 1.5, 2.0],
    "events.1.shared_phase": [True, False],
}
result = sweep(scenario, grid, replicates=2, seed=1)
print(result.summary())

# %%
# ``result.dataset`` holds the summaries over time with one dimension per swept key and one
# for the replicates. Average them over the pacer's second half (30–60 s) and the replicates,
# and plot them against the pacer's amplitude.
late = result.dataset.sel(time=slice(30, 60), channel="arousal").mean(["time", "replicate"])

fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), layout="constrained")
amplitude = late["events.1.amplitude"]
for shared, style in ((True, "o-"), (False, "s--")):
    point = late.sel({"events.1.shared_phase": shared})
    label = "shared phase" if shared else "random phases"
    axes[0].plot(amplitude, point["synchrony"], style, label=label)
    axes[1].plot(amplitude, point["mean_p_defensive"], style, label=label)
axes[0].set(xlabel="pacer amplitude", ylabel="mean synchrony R, 30–60 s")
axes[1].set(xlabel="pacer amplitude", ylabel="mean P(defensive), 30–60 s")
axes[0].legend()

# %%
# ``result.runs`` has one row per run with the swept values and the run's summary numbers,
# ready for a statistics package:
print(result.runs.head().to_string())

# %%
# The sweep's report plots every summary against the swept values:
result  # noqa: B018
