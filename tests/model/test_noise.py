"""The counter-based ziggurat: its tables, its distribution and its reproducibility."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special, stats

from syntony.model import _noise

N_DRAWS = 2_000_000


@pytest.fixture(scope="module")
def draws() -> np.ndarray:
    return _noise.counter_normals(20251122, 4, N_DRAWS)


def test_every_layer_has_the_same_area():
    x, _, _, f, area = _noise.ziggurat_tables()
    r = _noise.TAIL_START
    base = r * math.exp(-0.5 * r * r) + math.sqrt(math.pi / 2) * special.erfc(r / math.sqrt(2))
    layers = x[1:] * (f[:-1] - f[1:])  # layer i: width x[i], heights f(x[i]) .. f(x[i-1])
    np.testing.assert_allclose(layers, area, rtol=1e-11)
    assert base == pytest.approx(area, rel=1e-15)
    assert np.all(np.diff(x[1:]) > 0) and x[-1] == r


def test_fast_path_bounds_are_the_inner_rectangles():
    x, k, w, _, area = _noise.ziggurat_tables()
    two52 = 2.0**52
    assert k[1] == 0  # the top layer has no inner rectangle
    # the largest accepted integer times the width is still inside the next layer up
    np.testing.assert_allclose(k[2:].astype(float) * w[2:], x[1:-1], rtol=1e-12)
    assert k[0] * w[0] == pytest.approx(_noise.TAIL_START, rel=1e-12)
    assert w[0] * two52 == pytest.approx(area / math.exp(-0.5 * _noise.TAIL_START**2))
    # share of draws that need no exp or log
    assert 0.98 < (k.astype(float) / two52).mean() < 0.99


def test_draws_are_standard_normal(draws):
    assert stats.kstest(draws, "norm").pvalue > 1e-3
    edges = stats.norm.ppf(np.linspace(0, 1, 201))
    counts = np.histogram(draws, edges)[0]
    assert stats.chisquare(counts).pvalue > 1e-3
    se = 1 / math.sqrt(N_DRAWS)
    assert abs(draws.mean()) < 4 * se
    assert abs(draws.var() - 1) < 4 * math.sqrt(2) * se
    assert abs(stats.skew(draws)) < 4 * math.sqrt(6) * se
    assert abs(stats.kurtosis(draws)) < 4 * math.sqrt(24) * se


@pytest.mark.parametrize("z", [1.0, _noise.TAIL_START, 4.5])
def test_tails_have_the_normal_mass(draws, z):
    expected = 2 * stats.norm.sf(z) * N_DRAWS
    observed = np.count_nonzero(np.abs(draws) > z)
    assert abs(observed - expected) < 4 * math.sqrt(expected) + 1


def test_the_tail_beyond_the_base_strip_has_the_normal_shape(draws):
    """Beyond r the draws come from the exact tail algorithm, not the tables."""
    r = _noise.TAIL_START
    beyond = draws[np.abs(draws) > r]
    assert beyond.size > 300
    # P(|Z| > z | |Z| > r) is uniform for the right tail shape
    assert stats.kstest(stats.norm.sf(np.abs(beyond)) / stats.norm.sf(r), "uniform").pvalue > 1e-3
    assert (beyond > 0).mean() == pytest.approx(0.5, abs=0.1)


def test_streams_and_neighbouring_draws_are_uncorrelated(draws):
    other = _noise.counter_normals(20251122, 5, N_DRAWS)
    bound = 4 / math.sqrt(N_DRAWS)
    assert abs(np.corrcoef(draws, other)[0, 1]) < bound
    assert abs(np.corrcoef(draws[:-1], draws[1:])[0, 1]) < bound
    assert abs(np.corrcoef(draws[:-2:2], draws[1::2][: draws[:-2:2].size])[0, 1]) < bound


def test_a_draw_depends_only_on_key_stream_and_index(draws):
    head = _noise.counter_normals(20251122, 4, 1000)  # serial fill, different length
    assert np.array_equal(head, draws[:1000])
    assert not np.array_equal(_noise.counter_normals(20251123, 4, 1000), head)
