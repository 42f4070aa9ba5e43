"""The progress line: its text, and what it prints to a pipe."""

from __future__ import annotations

import io

from cli.progress import BAR_WIDTH, ProgressLine, render


def test_a_bar_once_the_total_is_known_with_both_rates() -> None:
    line = render("import", 25, 100, 2.0, 5_000_000)
    half = BAR_WIDTH // 4
    assert (
        line == f"import: [{'#' * half}{'-' * (BAR_WIDTH - half)}] 25/100 (12/s, 5.0 MB, 2.5 MB/s)"
    )


def test_no_bar_while_the_total_is_being_counted() -> None:
    assert render("import", 3, None, 1.0, None) == "import: 3/? (3/s)"


def test_nothing_to_do_is_not_a_division_by_zero() -> None:
    assert render("import", 0, 0, 0.0, 0) == "import: 0/0 (0/s, 0.0 MB, 0.0 MB/s)"


def test_a_pipe_gets_only_the_final_line_or_nothing() -> None:
    for piped_summary, expected in [(True, 1), (False, 0)]:
        out = io.StringIO()
        progress = ProgressLine(piped_summary=piped_summary, stream=out)
        for done in range(4):
            progress("import", done, None if done < 3 else 4, 10 * done)
        progress("import", 4, 4, 40)
        progress("import", 4, 4, 40)  # a second report of the end prints nothing more
        lines = out.getvalue().splitlines()
        assert len(lines) == expected
        assert all(line.startswith("import: [") and "4/4" in line for line in lines)
