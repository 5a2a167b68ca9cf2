"""The SNMP kit's table helpers every SNMP collector maps with: rows joined by their single-arc index, and typed
getters that read a missing or mistyped object as absent, never as 0 or as text."""

from __future__ import annotations

from collectors.kit.snmp import int_value, rows, text_value

IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
IF_TYPE = "1.3.6.1.2.1.2.2.1.3"
IF_MTU = "1.3.6.1.2.1.2.2.1.4"


def test_rows_join_columns_by_index_and_ignore_other_columns_and_multi_arc_suffixes() -> None:
    values = {
        f"{IF_DESCR}.1": "eth0", f"{IF_TYPE}.1": 6,
        f"{IF_DESCR}.12": "eth1",
        f"{IF_MTU}.1": 1500,            # a column not asked for
        f"{IF_TYPE}.3.0": 6,            # an index of two arcs is no row of this table
        "1.3.6.1.2.1.2.2.1.20.1": 0,    # ifOutErrors: shares the prefix "...1.2" but is another column
        IF_DESCR: "no index",
    }
    assert rows(values, (IF_DESCR, IF_TYPE)) == {1: {IF_DESCR: "eth0", IF_TYPE: 6}, 12: {IF_DESCR: "eth1"}}


def test_getters_read_absent_or_mistyped_objects_as_absent() -> None:
    row = {IF_DESCR: "eth0", IF_TYPE: 6, IF_MTU: "1500"}
    assert (int_value(row, IF_TYPE), int_value(row, IF_MTU), int_value(row, "1.2.3")) == (6, None, None)
    assert (text_value(row, IF_DESCR), text_value(row, IF_TYPE), text_value(row, "1.2.3")) == ("eth0", "", "")
