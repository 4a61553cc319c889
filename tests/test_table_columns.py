"""The column-wise reader of `pool --by` (inputs/table_columns.py) against the cell-by-cell
reader (cli.read_rows): on every table it accepts, the same counts and groups; on every
table the cell-by-cell reader refuses, it declines (so the error is that reader's own)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metareview.cli import read_rows
from metareview.errors import InputError
from metareview.inputs.table_columns import columns_from_rows, read_pool_columns

COUNTS = ("ai", "n1i", "ci", "n2i")


def both(path, by="g"):
    """(column reader's result or None, row reader's PoolColumns or the InputError)."""
    fast = read_pool_columns(path, COUNTS, by)
    try:
        slow = columns_from_rows(read_rows(str(path), "OR", [by], by=by), COUNTS, by)
    except InputError as exc:
        slow = exc
    return fast, slow


def agree(path, by="g"):
    fast, slow = both(path, by)
    if isinstance(slow, InputError):
        assert fast is None, slow
        return None
    if fast is not None:
        assert fast.names == slow.names
        assert np.array_equal(fast.codes, slow.codes)
        for c in COUNTS:
            assert np.array_equal(fast.counts[c], slow.counts[c]), c
    return fast


def write(tmp_path, text: str | bytes, name="t.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


PLAIN = "study,ai,n1i,ci,n2i,g\nA,1,10,2,20,x\nB,3,30,4,40,x\nA,5,50,6,60,y\n"


@pytest.mark.parametrize(
    "text, accepted",
    [
        (PLAIN, True),
        (PLAIN.replace("\n", "\r\n"), True),
        ("\ufeff" + PLAIN, True),
        (PLAIN + "\n\n", True),
        (PLAIN.replace("A,1", "  A  ,1"), True),  # surrounding spaces stripped
        (PLAIN.replace(",x\n", ",Zürich\n"), True),
        (PLAIN.replace(",x\n", ", Zürich\u00a0\n"), True),  # Unicode space stripped
        (PLAIN.replace("B,3", "ÄB,3"), True),
        (PLAIN.replace("B,3", "a,3"), False),  # 'A' and 'a' are one study within x
        (PLAIN.replace("A,5", "a,5"), True),  # ... but may recur in another group
        (PLAIN.replace("B,3", "Éa,3").replace("A,1", "éA,1"), False),  # non-ASCII case
        (PLAIN.replace("B,3", " ,3"), False),
        (PLAIN.replace(",y\n", ",\n"), False),
        (PLAIN.replace(",y\n", ",  \n"), False),
        (PLAIN.replace("3,30", "31,30"), False),
        (PLAIN.replace("40", "0"), False),
        (PLAIN.replace("3,30", " 3,30"), False),  # a valid count with a space: declined
        (PLAIN.replace("3,30", "3.0,30"), False),
        (PLAIN.replace("3,30", "-3,30"), False),
        (PLAIN.replace("30,", "1000000001,"), False),
        (PLAIN.replace("30,", "1000000000,"), True),
        (PLAIN.replace("30,", "00030,"), True),
        (PLAIN.replace("A,1", "A\x08,1"), False),
        (PLAIN.replace("A,1", "A\u202e,1"), False),
        (PLAIN.replace("A,1", '"A",1'), False),
        (PLAIN.replace("\nB", "\n\nB"), False),
        (PLAIN.replace("x\nB", "x\rB"), False),
        (PLAIN.replace(",x\n", ",x,\n", 1), False),
        (PLAIN.replace("study,", "study,study,"), False),
        ("study,ai,n1i,ci,n2i,g\n", False),
        (PLAIN.replace("A,1", "A" * 200 + ",1"), True),  # a long name: Python strings
    ],
)
def test_the_readers_agree(tmp_path, text, accepted):
    fast = agree(write(tmp_path, text))
    assert (fast is not None) == accepted


def test_a_binary_file_has_the_readers_error(tmp_path):
    path = write(tmp_path, b"\xff\xfestudy")
    with pytest.raises(InputError, match="UTF-16"):
        read_pool_columns(path, COUNTS, "g")


CELL = st.sampled_from(["A", "a", "B", " b", "é", "É", "x y", "", "Zz", "\u00a0c"])
COUNT = st.sampled_from(["0", "1", "7", "12", "99", " 5", "5.0", "", "1e3", "1000000001"])


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(st.tuples(CELL, COUNT, COUNT, COUNT, COUNT, CELL), min_size=1, max_size=12),
    crlf=st.booleans(),
)
def test_random_tables(tmp_path_factory, rows, crlf):
    end = "\r\n" if crlf else "\n"
    text = end.join(["study,ai,n1i,ci,n2i,g", *(",".join(r) for r in rows)]) + end
    agree(write(tmp_path_factory.mktemp("t"), text))
