"""`bench --zero-downtime` owns one section of docs/benchmarks.md: rewriting it keeps one copy."""

from pathlib import Path
from tempfile import TemporaryDirectory

from hypothesis import given
from hypothesis import strategies as st

from bench.zerodowntime.report import END, START, write_section

prose = st.text(st.sampled_from("ab \n#|"), max_size=40).filter(lambda text: "<" not in text)


@given(prose_around=st.lists(prose, min_size=1, max_size=4))
def test_the_section_is_written_once_and_the_prose_around_it_stays(prose_around: list[str]) -> None:
    # Any number of earlier sections (a merge once left two), each between lines of prose.
    old = [f"\n{START}\nold figures {number}\n{END}\n" for number in range(len(prose_around) - 1)]
    text = prose_around[0] + "".join(map(str.__add__, old, prose_around[1:]))
    new = f"{START}\nnew figures\n{END}"
    with TemporaryDirectory() as folder:
        out = Path(folder, "benchmarks.md")
        out.write_text(text)
        write_section(out, new)
        written = out.read_text()

    assert written.count(START) == written.count(END) == 1
    assert new in written
    assert "old figures" not in written
    words = [word for piece in prose_around for word in piece.split()]
    assert written.replace(new, "").split() == words
