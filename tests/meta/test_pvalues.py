"""Monte Carlo and permutation p-values are exact fractions: no float noise at the threshold."""

from __future__ import annotations

import numpy as np

from syntony.meta.fwe import exceedances, null_to_p


def test_p_is_the_count_over_n_without_float_noise():
    null = np.arange(100, dtype=float)  # values 0..99
    # 5 draws (95..99) are >= 95: p = 5/100 must be the double nearest 0.05, not 0.050000000000000044
    assert null_to_p([95.0], null)[0] == 0.05
    assert repr(float(null_to_p([59.0], null)[0])) == "0.41"
    assert exceedances([95.0, 100.0, -1.0], null).tolist() == [5, 0, 100]


def test_p_is_clipped_to_the_attainable_range():
    null = np.arange(100, dtype=float)
    p = null_to_p([1e9, -1e9], null)
    assert p.tolist() == [0.01, 0.99]


def test_written_p_values_read_as_typed(tmp_path):
    import pandas as pd

    p = null_to_p(np.array([95.0, 59.0, 90.0]), np.arange(100, dtype=float))
    path = tmp_path / "p.tsv"
    pd.DataFrame({"p": p}).to_csv(path, sep="\t", index=False)
    assert path.read_text().split() == ["p", "0.05", "0.41", "0.1"]


def test_too_few_iterations_never_read_as_zero_significant():
    from syntony.datasets import load_studyset
    from syntony.meta.ale import ALE

    result = ALE(n_iters=10, random_state=0).fit(load_studyset("pain")).result_
    text = result.summary()
    assert "0 significant" not in text
    assert "none can reach cluster-size FWE p < 0.05 with 10 Monte Carlo iterations" in text
    assert "smallest attainable p 0.1; at least 21 needed" in text
