"""The readers of rnnlab.data.files: every form they take, and every bad file in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rnnlab.data.files import read_sequence_file
from rnnlab.errors import DataError

from sequence_files import csv_text, random_cases, ts_text, write_npz


def _same(read: list[np.ndarray], cases: list[np.ndarray]) -> None:
    assert len(read) == len(cases)
    for got, want in zip(read, cases, strict=True):
        np.testing.assert_allclose(got, want, equal_nan=True)


@pytest.mark.parametrize("features", [1, 3])
@pytest.mark.parametrize("lengths", [(5, 5), (2, 9)], ids=["equal", "unequal"])
def test_ts_reads_every_case_and_label(tmp_path, features, lengths):
    cases = random_cases(6, features, lengths)
    labels = ["a", "b", "a", "c", "b", "a"]
    path = tmp_path / "f.ts"
    path.write_text(ts_text(cases, labels))
    f = read_sequence_file(path)
    _same(f.sequences, cases)
    assert f.labels == labels and f.kind == "class" and f.classes == ["a", "b", "c"]
    assert f.path == path  # what later messages about a case name
    assert f.where[0] == "line 10" if lengths[0] != lengths[1] else "line 11"


def test_ts_header_forms_missing_values_and_regression(tmp_path):
    cases = random_cases(3, 2)
    cases[1][2, 1] = np.nan
    header = "@PROBLEMNAME x\n@univariate FALSE\n@targetlabel true\n@missing true"
    path = tmp_path / "r.ts"
    path.write_text(ts_text(cases, ["1.5", "-2", "3e1"], header=header))
    f = read_sequence_file(path)
    _same(f.sequences, cases)
    assert f.kind == "regression" and f.classes is None and f.labels == ["1.5", "-2", "3e1"]
    assert np.isnan(f.sequences[1][2, 1])


def test_ts_without_labels_and_archive_comments(tmp_path):
    cases = random_cases(2, 1)
    path = tmp_path / "u.ts"
    path.write_text(
        "#comment\n\n"
        + ts_text(cases, None, header="@univariate true\n@classLabel false\n@targetLabel false")
    )
    f = read_sequence_file(path)
    assert f.kind is None and f.labels == ["", ""]
    _same(f.sequences, cases)


@pytest.mark.parametrize("shuffle_rows", [False, True])
def test_csv_long_format_in_any_row_order(tmp_path, shuffle_rows):
    cases = random_cases(4, 2)
    cases[0][1, 0] = np.nan
    labels = ["x", "y", "x", "y"]
    path = tmp_path / "f.csv"
    path.write_text(csv_text(cases, labels, shuffle_rows=shuffle_rows))
    f = read_sequence_file(path)
    order = [3, 2, 1, 0] if shuffle_rows else [0, 1, 2, 3]  # ids in the order they appear
    _same(f.sequences, [cases[i] for i in order])
    assert f.labels == [labels[i] for i in order] and f.kind is None
    first_line = {i: 2 + sum(len(c) for c in cases[:i]) for i in range(4)}  # of its first step
    if shuffle_rows:  # rows reversed: a sequence's first step is its last row
        first_line = {i: 1 + sum(len(c) for c in cases[i:]) for i in range(4)}
    assert f.where == [f"id 's{i}' (line {first_line[i]})" for i in order]


def test_csv_column_names_are_options(tmp_path):
    cases = random_cases(2, 1)
    path = tmp_path / "f.csv"
    path.write_text(csv_text(cases, ["p", "q"], columns=("subject", "t", "speaker")))
    f = read_sequence_file(path, id_column="subject", time_column="t", label_column="speaker")
    _same(f.sequences, cases)
    with pytest.raises(DataError, match="no column 'id'.*set data.id_column"):
        read_sequence_file(path)


@pytest.mark.parametrize("padded", [False, True])
def test_npz_object_and_padded_layouts(tmp_path, padded):
    cases = random_cases(5, 3)
    f = read_sequence_file(write_npz(tmp_path / "f.npz", cases, [0, 1, 1, 0, 2], padded=padded))
    _same(f.sequences, cases)
    assert f.labels == ["0", "1", "1", "0", "2"]


def test_npz_object_layout_of_univariate_and_one_step_sequences(tmp_path):
    x = np.empty(3, dtype=object)
    x[:] = [np.arange(4), np.array([7]), np.array([1.5, 2.5])]  # [T_i]: one feature
    np.savez(tmp_path / "f.npz", x=x, y=np.array(["a", "b", "a"]))
    f = read_sequence_file(tmp_path / "f.npz")
    _same(f.sequences, [np.arange(4.0)[:, None], np.array([[7.0]]), np.array([[1.5], [2.5]])])
    assert all(seq.dtype == np.float64 for seq in f.sequences)  # integers read as floats
    assert f.labels == ["a", "b", "a"] and f.where[1] == "record 1 (x[1])"


def test_npz_padded_rows_of_one_step_and_labels_of_any_kind(tmp_path):
    x = np.arange(6.0).reshape(2, 3)
    y = np.array(["a", 7], dtype=object)  # Python objects, not NumPy scalars
    np.savez(tmp_path / "f.npz", x=x, y=y, lengths=np.array([1, 3]))
    f = read_sequence_file(tmp_path / "f.npz")
    _same(f.sequences, [np.array([[0.0]]), np.array([[3.0], [4.0], [5.0]])])
    assert f.labels == ["a", "7"] and f.path == tmp_path / "f.npz"


def test_npz_padded_without_lengths_and_univariate(tmp_path):
    x = np.arange(12.0).reshape(3, 4)
    np.savez(tmp_path / "f.npz", x=x, y=np.array([0.5, 1.5, 2.5]))
    f = read_sequence_file(tmp_path / "f.npz")
    _same(f.sequences, [row[:, None] for row in x])


CASES = random_cases(2, 2, (3, 3))
GOOD_TS = ts_text(CASES, ["a", "b"])
BAD_TS = {  # name: (file text, the one line after the file's path)
    "empty": ("", "the file is empty"),
    "blank lines": ("\n  \n\t\n", "the file is empty"),
    "no @data": ("@problemName x\n@classLabel true a b\n", "no @data line (the cases follow it)"),
    "no cases": ("@classLabel true a b\n@data\n", "no cases after @data"),
    "ragged channels": ("@classLabel true a b\n@data\n1,2,3:4,5:a\n",
                        "line 3: channel 2 has 2 values but channel 1 has 3 (every channel of a "
                        "case has the same length)"),
    "non-numeric": ("@classLabel true a b\n@data\n1,x,3:4,5,6:a\n",
                    "line 3, channel 1: value 2 is 'x', not a number (a missing value is "
                    "written ?)"),
    "missing label": ("@classLabel true a b\n@data\n1,2,3:4,5,6:\n",
                      "line 3: the label (after the last ':') is missing"),
    "unknown label": ("@classLabel true a b\n@data\n1,2,3:4,5,6:c\n",
                      "line 3: label 'c' is not one of @classLabel a b"),
    "channels vs @dimensions": ("@dimensions 3\n@classLabel true a b\n@data\n1,2:3,4:a\n",
                                "line 4: 2 channel(s), but @dimensions has 3"),
    "channels, no label expected": ("@dimensions 1\n@data\n1,2:3,4\n",
                                    "line 3: 2 channel(s), but @dimensions has 1 (no label is "
                                    "expected: no @classLabel true or @targetLabel true)"),
    "channels vs first case": ("@classLabel true a b\n@data\n1,2:3,4:a\n1,2:a\n",
                               "line 4: 1 channel(s), but the first case has 2"),
    "equal length broken": ("@equalLength true\n@seriesLength 3\n@classLabel true a\n@data\n"
                            "1,2:3,4:a\n", "line 5: 2 steps, but @equalLength true and "
                            "@seriesLength 3"),
    "equal length vs first case": ("@equalLength true\n@classLabel true a\n@data\n1,2:a\n"
                                   "1,2,3:a\n", "line 5: 3 steps, but @equalLength true and the "
                                   "first case has 2"),
    "bad boolean": ("@univariate maybe\n@data\n1\n",
                    "line 1: @univariate takes true or false, not 'maybe'"),
    "bad @dimensions": ("@dimensions two\n@data\n1\n",
                        "line 1: @dimensions takes a positive integer, not 'two'"),
    "class label word": ("@classLabel yes a b\n@data\n1:a\n",
                         "line 1: @classLabel takes true and the labels, or false"),
    "class label bare": ("@classLabel\n@data\n1:a\n",
                         "line 1: @classLabel takes true and the labels, or false"),
    "class list empty": ("@classLabel true\n@data\n1:a\n",
                         "line 1: @classLabel true lists no class labels"),
    "target label word": ("@targetLabel FALSE no\n@data\n1\n",
                          "line 1: @targetLabel takes true or false, not 'FALSE no'"),
    "class and target": ("@classLabel true a\n@targetLabel true\n@data\n1:a\n",
                         "line 3: both @classLabel true and @targetLabel true"),
    "timestamps": ("@timeStamps true\n@data\n(0,1):a\n",
                   "line 2: @timeStamps true is not supported (evenly spaced steps only)"),
    "univariate vs dims": ("@univariate true\n@dimensions 2\n@data\n1:2\n",
                           "line 3: @univariate true but @dimensions 2"),
    "text before @data": ("hello\n@data\n",
                          "line 1: expected an @ header line before @data: 'hello'"),
    "long text before @data": ("x" * 60 + "\n@data\n",
                               f"line 1: expected an @ header line before @data: {'x' * 40!r}"),
    "empty channel": ("@classLabel true a\n@data\n1,2::a\n", "line 3: channel 2 has no values"),
}  # fmt: skip

CSV_HEAD = "id,time,f0,label\n"
BAD_CSV = {
    "empty": ("", "the file is empty"),
    "header only": (CSV_HEAD, "no rows after the header"),
    "no id column": ("time,f0,label\n0,1,x\n",
                     "line 1: no column 'id' (the columns are time, f0, label; set data.id_column)"),
    "no time column": ("id,f0,label\na,1,x\n", "line 1: no column 'time' (the columns are id, "
                       "f0, label; set data.time_column)"),
    "no label column": ("id,time,f0\n", "line 1: no column 'label' (the columns are id, time, f0; "
                        "set data.label_column)"),
    "no feature column": ("id,time,label\na,0,x\n",
                          "line 1: no feature columns besides id, time and label"),
    "short row": (CSV_HEAD + "a,0,1\n", "line 2: 3 cells, the header has 4"),
    "non-numeric": (CSV_HEAD + "a,0,1.0\na,1,oops,x\n".replace("1.0\n", "1.0,x\n"),
                    "line 3: value 1 is 'oops', not a number (a missing value is written ?)"),
    "non-numeric time": (CSV_HEAD + "a,noon,1,x\n", "line 2: time 'noon' is not a number"),
    "label changes": (CSV_HEAD + "a,0,1,x\na,1,2,y\n",
                      "line 3: id 'a' has label 'y' here but 'x' on line 2"),
    "missing label": (CSV_HEAD + "a,0,1,\n", "line 2: the label cell is empty"),
    "duplicate time": (CSV_HEAD + "a,0,1,x\na,0,2,x\n",
                       "line 3: id 'a' has time 0 twice (also on line 2)"),
    "empty id": (CSV_HEAD + ",0,1,x\n", "line 2: the id cell is empty"),
}  # fmt: skip


@pytest.mark.parametrize("name", BAD_TS)
def test_a_bad_ts_file_is_one_line(tmp_path, name):
    text, expected = BAD_TS[name]
    _one_line(tmp_path / "bad.ts", text, expected)


@pytest.mark.parametrize("name", BAD_CSV)
def test_a_bad_csv_file_is_one_line(tmp_path, name):
    text, expected = BAD_CSV[name]
    _one_line(tmp_path / "bad.csv", text, expected)


def _one_line(path: Path, text: str, expected: str) -> None:
    path.write_text(text)
    with pytest.raises(DataError) as err:
        read_sequence_file(path)
    assert str(err.value) == f"{path}: {expected}"


def _npz(path: Path, **arrays) -> None:
    np.savez(path, **arrays)


def _objects(*seqs) -> np.ndarray:
    x = np.empty(len(seqs), dtype=object)
    x[:] = seqs
    return x


OBJ = np.empty(2, dtype=object)
OBJ[:] = [np.ones((3, 2)), np.ones((4, 3))]
BAD_NPZ = {
    "no y": ({"x": np.zeros((2, 3, 1))}, "arrays x; expected x and y (and lengths with a padded x)"),
    "unknown key": ({"x": np.zeros((2, 3)), "y": np.zeros(2), "w": 1}, "arrays w, x, y; expected x and y (and lengths with a padded x)"),
    "y not 1-D": ({"x": np.zeros((2, 3)), "y": np.zeros((2, 1))}, "y has shape (2, 1), expected [N]"),
    "y too short": ({"x": np.zeros((2, 3)), "y": np.zeros(3)}, "y holds 3 labels for 2 sequences in x"),
    "x 4-D": ({"x": np.zeros((2, 3, 1, 1)), "y": np.zeros(2)}, "x has shape (2, 3, 1, 1) and dtype float64, expected an object array of N arrays [T_i, F] or a padded [N, T, F]"),
    "lengths too long": ({"x": np.zeros((2, 3)), "y": np.zeros(2), "lengths": np.array([3, 4])},
                         "lengths[1] = 4, expected 1..3"),
    "lengths float": ({"x": np.zeros((2, 3)), "y": np.zeros(2), "lengths": np.array([3.0, 1.0])},
                      "lengths has shape (2,) and dtype float64, expected [N] = [2] integers"),
    "ragged features": ({"x": OBJ, "y": np.zeros(2)}, "x[1]: 3 features, x[0] has 2"),
    "no sequences": ({"x": np.empty(0, dtype=object), "y": np.zeros(0)}, "x holds no sequences"),
    "no arrays": ({}, "arrays none; expected x and y (and lengths with a padded x)"),
    "x 1-D": ({"x": np.zeros(3), "y": np.zeros(3)}, "x has shape (3,) and dtype float64, expected "
              "an object array of N arrays [T_i, F] or a padded [N, T, F]"),
    "padded text": ({"x": np.array([["a", "b"], ["c", "d"]]), "y": np.zeros(2)},
                    "x[0]: not an array of numbers"),
    "lengths with objects": ({"x": OBJ, "y": np.zeros(2), "lengths": np.array([3, 4])},
                             "lengths is only read with a padded x [N, T, F]"),
    "text values": ({"x": _objects(np.ones((2, 1)), np.array(["a", "b"])), "y": np.zeros(2)},
                    "x[1]: not an array of numbers"),
    "3-D sequence": ({"x": _objects(np.ones((2, 1)), np.ones((2, 1, 1))), "y": np.zeros(2)},
                     "x[1]: shape (2, 1, 1), expected [T, F] with T >= 1"),
    "empty sequence": ({"x": _objects(np.ones((2, 1)), np.ones(0)), "y": np.zeros(2)},
                       "x[1]: shape (0, 1), expected [T, F] with T >= 1"),
}  # fmt: skip


@pytest.mark.parametrize("name", BAD_NPZ)
def test_a_bad_npz_file_is_one_line(tmp_path, name):
    path = tmp_path / "bad.npz"
    _npz(path, **BAD_NPZ[name][0])
    with pytest.raises(DataError) as err:
        read_sequence_file(path)
    assert str(err.value) == f"{path}: {BAD_NPZ[name][1]}"


@pytest.mark.parametrize("content", [b"", b"not a zip"], ids=["empty", "garbage"])
def test_an_unreadable_npz_is_one_line(tmp_path, content):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(DataError, match="the file is empty" if not content else "not a readable"):
        read_sequence_file(path)


def test_an_npz_with_a_damaged_array_is_one_line(tmp_path):
    import io
    import zipfile

    buf = io.BytesIO()
    np.save(buf, np.zeros(100))
    path = tmp_path / "cut.npz"
    with zipfile.ZipFile(path, "w") as zf:  # x cut short, as by an interrupted copy
        zf.writestr("x.npy", buf.getvalue()[:-50])
        zf.writestr("y.npy", buf.getvalue())
    with pytest.raises(DataError) as err:
        read_sequence_file(path)
    assert str(err.value).startswith(f"{path}: not a readable .npz (") and "\n" not in str(
        err.value
    )


def test_unknown_suffix_and_missing_file(tmp_path):
    (tmp_path / "f.txt").write_text("1,2")
    with pytest.raises(DataError) as err:
        read_sequence_file(tmp_path / "f.txt")
    assert str(err.value) == f"{tmp_path / 'f.txt'}: unknown suffix '.txt'; one of .ts, .csv, .npz"
    with pytest.raises(DataError, match="no such file"):
        read_sequence_file(tmp_path / "nope.ts")


@pytest.mark.parametrize("suffix", [".ts", ".csv"])
def test_windows_line_ends_and_a_byte_order_mark(tmp_path, suffix):
    cases = random_cases(3, 2)
    text = ts_text(cases, ["a", "b", "a"]) if suffix == ".ts" else csv_text(cases, ["a", "b", "a"])
    path = tmp_path / f"f{suffix}"
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    f = read_sequence_file(path)
    _same(f.sequences, cases)
    assert f.labels == ["a", "b", "a"]


@pytest.mark.parametrize("suffix", [".ts", ".csv"])
def test_a_byte_that_is_not_utf8_is_one_line(tmp_path, suffix):
    """A Latin-1 file is read as text with the odd byte replaced: the value it sits in is
    then not a number, said in one line (not a decoding traceback)."""
    head = b"@classLabel true a\n@data\n" if suffix == ".ts" else b"id,time,f0,label\n"
    row = b"1,2\xe9:a\n" if suffix == ".ts" else b"s,0,2\xe9,a\n"
    path = tmp_path / f"latin1{suffix}"
    path.write_bytes(head + row)
    with pytest.raises(DataError) as err:
        read_sequence_file(path)
    assert str(err.value).startswith(f"{path}: line ") and "is '2\ufffd', not a number" in str(
        err.value
    )


def test_csv_quoted_cells_keep_their_line_breaks(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(b'id,time,f0,label\r\na,0,1,"two\r\nlines"\r\na,1,2,"two\r\nlines"\r\n')
    f = read_sequence_file(path)
    assert f.labels == ["two\r\nlines"] and f.sequences[0].tolist() == [[1.0], [2.0]]
