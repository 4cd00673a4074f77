"""bench/sasrec.py's export: the TRAIN order rebuilt from prefix histories, and RecBole's rows."""

import pytest

from bench import sasrec  # noqa: E402


def test_the_train_order_follows_the_history_chain_whatever_the_record_order():
    # TRAIN c, a, b in time: each record's history is its earlier items, most recent first.
    records = [("b", ["a", "c"]), ("c", []), ("a", ["c"])]
    assert sasrec._train_order(records, "u") == ["c", "a", "b"]


@pytest.mark.parametrize(
    "records, message",
    [
        ([("b", ["a"]), ("c", ["a"]), ("a", [])], "two TRAIN records follow 'a'"),
        ([("a", []), ("b", ["x"])], "covers 1/2"),
    ],
)
def test_a_broken_chain_is_a_sentence(records, message):
    with pytest.raises(SystemExit, match=message):
        sasrec._train_order(records, "u")


def test_rows_hold_the_last_max_len_earlier_items_oldest_first():
    assert sasrec._rows(7, [4, 5, 6, 8], max_len=2) == ["7\t4\t5\t1\n", "7\t4 5\t6\t2\n", "7\t5 6\t8\t3\n"]
