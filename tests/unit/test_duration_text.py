"""One duration wording for gap evidence (a UPS's runtime) and the status page ("... ago"): below two days an
hour count keeps its minutes, since a UPS runtime of 3 h 20 min is not 3 h."""

from __future__ import annotations

from daemon.gaps.units import duration_text


def test_runtimes_read_with_the_precision_an_operator_plans_a_shutdown_with() -> None:
    assert [duration_text(s) for s in (95, 1500, 2580, 7200, 12_000, 86_400 * 2 - 60, 86_400 * 3)] == [
        "95 s", "25 min", "43 min", "2 h", "3 h 20 min", "47 h 59 min", "3 d"]
