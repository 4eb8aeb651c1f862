"""Meta inputs that used to slip through: what a reader drops or fills in is counted and reaches
the result's warnings; too few experiments are refused or warned about; single-focus
experiments give finite maps; empty database selections and settings that cannot reach
significance are named."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from _ale_helpers import ball_grid, random_studyset

from syntony.errors import InputError
from syntony.meta.ale import ALE, check_experiments
from syntony.meta.contrast import ALEContrast, AllVoxels, InMainEffects
from syntony.meta.readers import read_csv, read_nimare_json, read_studyset
from syntony.meta.reference import ReferenceDatabase
from syntony.meta.specs import Databases, resolve_spec
from syntony.meta.studyset import Studyset

GRID = ball_grid()


def _quiet(call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call()


def _foci_table(tmp_path, rows, name="foci.csv"):
    path = tmp_path / name
    path.write_text("experiment,sample_size,x,y,z\n" + "\n".join(rows) + "\n")
    return path


def _points(n_exp, per_exp=2, seed=0):
    rng = np.random.default_rng(seed)
    ijk = GRID.mask_ijk[rng.integers(0, GRID.n_voxels, n_exp * per_exp)]
    return GRID.ijk_to_mm(ijk)


# -- what a reader fills in or leaves out --------------------------------------------------------
def test_na_sample_sizes_are_counted_filled_and_reach_the_result(tmp_path):
    xyz = _points(3)
    rows = [
        f"{e},{n},{x:g},{y:g},{z:g}"
        for (e, n), (x, y, z) in zip(
            [("a", "n/a"), ("a", "n/a"), ("b", "12"), ("b", "12"), ("c", "NA"), ("c", "")],
            xyz,
            strict=True,
        )
    ]
    path = _foci_table(tmp_path, rows)
    with pytest.raises(InputError, match=r"foci.csv:2 \[sample_size\].*'n/a'.*default"):
        read_csv(path)
    with pytest.warns(UserWarning, match=r"no sample size .* in 4 row\(s\), of 2 experiment"):
        ss = read_csv(path, default_n=20)
    assert ss.sample_sizes.tolist() == [20.0, 12.0, 20.0]
    (text,) = ss.notes
    assert "'a', 'c'" in text and "N = 20" in text
    # The note survives a selection and reaches the result of an ALE of the studyset.
    chosen = ss.select(["a", "b"])
    assert chosen.notes == ss.notes
    result = _quiet(lambda: ALE(n_iters=0, grid=GRID).fit(chosen).result_)
    assert text in result.warnings


def test_na_coordinates_are_refused_with_their_count_and_line(tmp_path):
    path = _foci_table(tmp_path, ["a,10,1,2,3", "a,10,n/a,2,3", "b,10,4,5,6", "b,10,,5,6"])
    with pytest.raises(InputError, match=r"foci.csv:3 \[x\]: missing coordinate 'n/a' in 2 of 4"):
        read_csv(path)


def test_a_table_without_sample_sizes_says_the_default_was_used(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("experiment\tx\ty\tz\na\t1\t2\t3\nb\t4\t5\t6\n")
    with pytest.warns(UserWarning, match="no sample_size column"):
        ss = read_csv(path, default_n=15)
    assert len(ss.notes) == 1 and "N = 15" in ss.notes[0]


def test_nimare_json_contrasts_without_coordinates_are_named_and_reported(tmp_path):
    coords = {"space": "MNI", "x": [0.0, 4.0], "y": [0.0, 2.0], "z": [0.0, -2.0]}
    doc = {
        "s1": {"contrasts": {"c1": {"coords": coords, "metadata": {"sample_sizes": [12]}}}},
        "s2": {"contrasts": {"c": {"coords": coords}, "img": {"images": {"z": "z.nii.gz"}}}},
        "s3": {"contrasts": {"only-images": {"metadata": {"sample_sizes": [30]}}}},
    }
    path = tmp_path / "d.json"
    path.write_text(json.dumps(doc))
    with pytest.warns(UserWarning) as record:
        ss = read_nimare_json(path, default_n=16)
    messages = [str(w.message) for w in record]
    assert ss.ids == ["s1-c1", "s2-c"]
    skipped = next(m for m in messages if "without coordinates" in m)
    assert "2 contrast(s)" in skipped and "'s2-img', 's3-only-images'" in skipped
    assert "2 of 4 contrasts are used" in skipped
    filled = next(m for m in messages if "no sample size" in m)
    assert "1 of 2 contrasts ('s2-c')" in filled and "N = 16" in filled
    assert list(ss.notes) == [skipped, filled]
    result = _quiet(lambda: ALE(n_iters=0, grid=GRID).fit(ss).result_)
    assert skipped in result.warnings and filled in result.warnings
    # A file in which no contrast has coordinates says so.
    path.write_text(json.dumps({"s3": doc["s3"]}))
    with pytest.raises(InputError, match="none of its 1 contrasts has coordinates"):
        read_nimare_json(path, default_n=16)


def test_notes_join_when_files_are_read_together(tmp_path):
    a = _foci_table(tmp_path, ["a,n/a,1,2,3", "b,9,4,5,6"], "a.csv")
    b = tmp_path / "b.csv"
    b.write_text("experiment,x,y,z\nc,1,2,3\n")
    ss = _quiet(lambda: read_studyset([a, b], default_n=20))
    assert len(ss.notes) == 2 and ss.ids == ["a", "b", "c"]


# -- how many experiments -------------------------------------------------------------------------
def test_fewer_than_two_experiments_are_refused_by_the_analyses():
    one = Studyset.from_arrays(_points(1), [0, 0], [10.0], ids=["only"])
    two = Studyset.from_arrays(_points(2, seed=1), [0, 0, 1, 1], [10.0, 12.0], ids=["p", "q"])
    with pytest.raises(InputError, match="has 1 experiment; an ALE meta-analysis needs at least 2"):
        check_experiments(one)
    with pytest.raises(InputError, match="group B has 1 experiment"):
        ALEContrast(test=AllVoxels(), n_permutations=10, grid=GRID, random_state=0).fit(two, one)
    # Two experiments are analysed, with the warning that cites Eickhoff et al. (2016).
    result = _quiet(lambda: ALE(n_iters=0, grid=GRID).fit(two).result_)
    assert any("only 2 experiments" in w and "Eickhoff et al., 2016" in w for w in result.warnings)


def test_macm_refuses_a_region_with_one_article():
    xyz = np.array([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [40.0, 40.0, 40.0]])
    db = ReferenceDatabase(
        name="tiny",
        metadata=pd.DataFrame(
            {"title": ["a", "b"], "space": "MNI"}, index=pd.Index(["1", "2"], name="id")
        ),
        coordinates=xyz,
        peak_article=np.array([0, 0, 1]),
    )
    from syntony.meta.macm import macm
    from syntony.meta.roi import sphere_roi

    with pytest.raises(InputError, match=r"only 1 article.*at least 2 are needed"):
        macm(sphere_roi((0, 0, 0), 4, name="here"), db, default_n=20, min_experiments=1)


# -- experiments with a single focus --------------------------------------------------------------
def test_single_focus_experiments_give_finite_maps_tables_and_contrasts():
    xyz = _points(12, per_exp=1, seed=3)
    ss = Studyset.from_arrays(xyz, np.arange(12), np.full(12, 14.0))
    est = _quiet(lambda: ALE(n_iters=64, grid=GRID, random_state=1, n_jobs=1).fit(ss))
    result = est.result_
    for name, values in result.maps.items():
        assert np.isfinite(values).all(), name
    numeric = result.clusters.select_dtypes("number")
    assert np.isfinite(numeric.to_numpy(dtype=float)).all()
    assert np.isfinite(result.contributions["percent"].to_numpy(dtype=float)).all()
    assert np.isfinite(est.fwe_.max_ale).all() and (est.fwe_.max_ale > 0).all()
    a, b = ss.select(ss.ids[:6], name="a"), ss.select(ss.ids[6:], name="b")
    contrast = ALEContrast(test=AllVoxels(p_threshold=0.2), n_permutations=20, grid=GRID,
                           random_state=2).fit(a, b)  # fmt: skip
    for name, values in contrast.result_.maps.items():
        assert np.isfinite(values).all(), name


# -- database selections --------------------------------------------------------------------------
def _tiny_database() -> ReferenceDatabase:
    from scipy import sparse

    counts = sparse.csr_matrix(np.array([[2, 0], [1, 1], [0, 3]]))
    return ReferenceDatabase(
        name="neuroquery",
        metadata=pd.DataFrame(
            {"title": ["x", "y", "z"], "space": "MNI"}, index=pd.Index(["1", "2", "3"])
        ),
        coordinates=np.array([[0.0, 0, 0], [4, 4, 4], [8, 8, 8]]),
        peak_article=np.array([0, 1, 2]),
        term_counts={"abstract": counts},
        vocabulary=pd.Index(["empathy", "imitation"]),
    )


def test_a_database_query_that_selects_nothing_says_so():
    dbs = Databases(loader=lambda name, path: _tiny_database())
    ss = resolve_spec("neuroquery:terms=empathy", default_n=20, databases=dbs)
    assert ss.ids == ["1", "2"]
    for spec in ("neuroquery:terms=empathy;min_count=5",
                 "neuroquery:terms=empathy;not_terms=empathy"):  # fmt: skip
        with pytest.raises(
            InputError, match=r"selects no article of neuroquery \(3 searched\); loosen"
        ):
            resolve_spec(spec, default_n=20, databases=dbs)


# -- settings that cannot reach significance ------------------------------------------------------
def test_too_few_iterations_or_permutations_are_named_with_what_would_do():
    ss = random_studyset(np.random.default_rng(4), GRID, 20)
    few = _quiet(lambda: ALE(n_iters=20, grid=GRID, random_state=0, n_jobs=1).fit(ss).result_)
    (message,) = [w for w in few.warnings if "smallest" in w]
    assert "1/20 = 0.05" in message and "use more than 20" in message
    none = _quiet(lambda: ALE(n_iters=0, grid=GRID).fit(ss).result_)
    assert "0 significant" not in none.summary() and "not tested" in none.summary()
    assert not any("smallest" in w for w in none.warnings)
    enough = _quiet(lambda: ALE(n_iters=40, grid=GRID, random_state=0, n_jobs=1).fit(ss).result_)
    assert not any("smallest" in w for w in enough.warnings)

    a, b = ss.select(ss.ids[:10], name="a"), ss.select(ss.ids[10:], name="b")
    contrast = _quiet(
        lambda: ALEContrast(test=AllVoxels(), n_permutations=100, grid=GRID, random_state=1)
        .fit(a, b).result_
    )  # fmt: skip
    (message,) = [w for w in contrast.warnings if "smallest" in w]
    assert "1/100 = 0.01" in message and "0.001" in message and "more than 1000" in message
    # Main effects computed by the contrast with too few iterations are named too.
    gingerale = _quiet(
        lambda: ALEContrast(test=InMainEffects(p_threshold=0.2), n_permutations=10,
                            main_effect_iters=10, grid=GRID, random_state=1).fit(a, b).result_
    )  # fmt: skip
    assert any("iterations of the main effects" in w and "1/10" in w for w in gingerale.warnings)


# -- on the command line --------------------------------------------------------------------------
def test_the_commands_refuse_one_experiment_and_leave_nothing(tmp_path):
    from click.testing import CliRunner

    from syntony.cli import app

    one = tmp_path / "one.txt"
    one.write_text("// Reference=MNI\n// Lone 2020: a\n// Subjects=12\n10\t20\t30\n-4\t8\t2\n")
    two = tmp_path / "two.txt"
    two.write_text(one.read_text() + "\n// Other 2021: b\n// Subjects=9\n40\t-20\t10\n")
    runs = [["ale", str(one)], ["conjunction", str(one), str(two)],
            ["contrast", str(two), str(one), "--test", "nimare"]]  # fmt: skip
    for args in runs:
        out = tmp_path / "out"
        res = CliRunner().invoke(app, [*args, "--out", str(out), "--n-iters", "4", "-q"])
        assert res.exit_code == 2, res.output
        assert res.output.startswith("syntony: error:") and "has 1 experiment" in res.output
        assert len(res.output.strip().splitlines()) == 1
        assert sorted(p.name for p in tmp_path.iterdir()) == ["one.txt", "two.txt"]


def test_ale_command_reports_few_experiments_and_unreachable_significance(tmp_path):
    from click.testing import CliRunner

    from syntony.cli import app

    two = tmp_path / "two.csv"
    two.write_text("experiment,x,y,z\na,10,20,30\na,-4,8,2\nb,40,-20,10\n")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["ale", str(two), "--out", str(out), "--n-iters", "20",
                                   "--default-n", "15", "--atlas", "none", "--seed", "1"])  # fmt: skip
    assert res.exit_code == 0, res.output
    manifest = json.loads((out / "result.json").read_text())
    warned = manifest["warnings"]
    assert any("only 2 experiments" in w for w in warned)
    assert any("1/20 = 0.05" in w and "more than 20" in w for w in warned)
    assert any("no sample_size column" in w and "N = 15" in w for w in warned)
