"""The zero-downtime helpers' progress reporting on a terminal."""

import io

from alembic_toolkit.zerodowntime import StreamProgress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_bar_is_redrawn_in_place_and_ends_with_the_rate() -> None:
    terminal = Terminal()
    progress = StreamProgress(terminal)
    progress.start("ledger.cents", 0, 1000)
    progress.advance(250)
    progress.advance(500)
    progress.finish(1000, 1000, 2.0)
    lines = terminal.getvalue().split("\n")
    assert lines[0] == "backfill ledger.cents: started of about 1,000"
    redraws = lines[1].split("\r")[1:]
    assert redraws[0].startswith(
        "backfill ledger.cents [" + "#" * 8 + "-" * 22 + "] 250 of ~1,000 (25%)"
    )
    assert redraws[1].startswith(
        "backfill ledger.cents [" + "#" * 15 + "-" * 15 + "] 500 of ~1,000 (50%)"
    )
    assert "(99%)" in redraws[-1]  # an estimate never claims 100% before the end
    assert lines[2] == "backfill ledger.cents: done, 1,000 rows in 2.0 s (500 rows/s), 1,000 in all"
