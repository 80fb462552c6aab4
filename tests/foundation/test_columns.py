"""churnguard.core.columns: the pandas-free row batch every bundle part scores."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from churnguard.core import columns
from churnguard.serving.batcher import concat


def test_from_records_fills_missing_names_with_none_and_keeps_order():
    cols = columns.from_records([{"a": 1, "b": "x"}, {"b": "y", "c": [1, 2]}])
    assert list(cols) == ["a", "b", "c"]
    assert cols["a"].tolist() == [1, None] and cols["c"][1] == [1, 2] and cols["c"][0] is None


def test_numeric_parses_numbers_and_makes_the_rest_missing():
    cols = {"x": np.array([1, None, "2.5", "not a number", True], dtype=object), "f": np.array([1.5, np.nan])}
    got = columns.numeric(cols, "x", 5)
    assert got[0] == 1.0 and math.isnan(got[1]) and got[2] == 2.5 and math.isnan(got[3]) and got[4] == 1.0
    assert columns.numeric(cols, "f", 2).dtype == np.float64
    assert np.isnan(columns.numeric(cols, "absent", 3)).all()
    m = columns.numeric_matrix(cols | {"y": np.array([3, 4, 5, 6, 7])}, ["y", "absent"], 5)
    assert m.shape == (5, 2) and m[:, 0].tolist() == [3, 4, 5, 6, 7] and np.isnan(m[:, 1]).all()


def test_text_maps_none_and_nan_to_missing_and_stringifies_the_rest():
    cols = {"c": np.array(["a", None, np.nan, 3], dtype=object)}
    assert columns.text(cols, "c", 4).tolist() == ["a", "missing", "missing", "3"]
    assert columns.text(cols, "absent", 2).tolist() == ["missing", "missing"]


def test_frame_round_trip_and_take():
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "z"]}, index=[10, 11, 12])
    cols, n = columns.as_columns(frame)
    assert n == 3 and columns.take(cols, np.array([False, True, True]))["b"].tolist() == ["y", "z"]
    back = columns.to_frame(cols, frame.index)
    pd.testing.assert_frame_equal(back, frame)


def test_batcher_concat_keeps_each_requests_rows_and_fills_absent_columns():
    a = ({"x": np.array([1.0, 2.0]), "s": np.array(["p", "q"], dtype=object)}, 2)
    b = ({"x": np.array([3], dtype=object)}, 1)
    out = concat([a, b])
    assert out["x"].tolist() == [1.0, 2.0, 3] and out["s"].tolist() == ["p", "q", None]
