"""The proof's stale-read check: it flags what no ordering of the writes explains, nothing else."""

from hypothesis import given
from hypothesis import strategies as st

from bench.zerodowntime.consistency import Request, mismatches


def initial(key: int) -> str:
    return f"item {key}"


def request(
    operation: str, sent: float, answered: float, status: int, value: str | None = None
) -> Request:
    return Request("N", operation, 1, sent, answered, status, value)


def test_a_read_after_an_acknowledged_write_must_see_it() -> None:
    write = request("update", 0, 1, 200, "new")
    assert mismatches([write, request("read", 2, 3, 200, "new")], initial) == []
    [stale] = mismatches([write, request("read", 2, 3, 200, "item 1")], initial)
    assert stale.allowed == {"new"}


def test_a_read_overlapping_a_write_may_see_either_value() -> None:
    write = request("update", 0, 2, 200, "new")
    for seen in ("item 1", "new"):
        assert mismatches([write, request("read", 1, 3, 200, seen)], initial) == []


def test_of_two_overlapping_writes_either_may_win() -> None:
    writes = [request("update", 0, 2, 200, "a"), request("update", 1, 3, 200, "b")]
    for seen in ("a", "b"):
        assert mismatches([*writes, request("read", 4, 5, 200, seen)], initial) == []
    assert len(mismatches([*writes, request("read", 4, 5, 200, "item 1")], initial)) == 1


def test_a_delete_acknowledged_means_absent_and_a_404_before_it_is_stale() -> None:
    delete = request("delete", 0, 1, 204)
    assert mismatches([delete, request("read", 2, 3, 404)], initial) == []
    assert len(mismatches([delete, request("read", 2, 3, 200, "item 1")], initial)) == 1
    assert len(mismatches([request("read", 0, 1, 404)], initial)) == 1


def test_a_failed_write_may_have_landed_at_any_later_time() -> None:
    failed = request("update", 0, 1, 500, "maybe")
    for seen in ("item 1", "maybe"):
        assert mismatches([failed, request("read", 5, 6, 200, seen)], initial) == []


def test_a_value_written_through_one_release_is_what_the_other_must_read() -> None:
    written = Request("N", "update", 1, 0, 1, 200, "x")
    assert mismatches([written, Request("N+1", "read", 1, 2, 3, 200, "x")], initial) == []
    [stale] = mismatches([written, Request("N+1", "read", 1, 2, 3, 200, "item 1")], initial)
    assert stale.request.release == "N+1"


@given(
    st.lists(
        st.tuples(st.sampled_from(["read", "update", "delete"]), st.integers(0, 3)),
        min_size=1,
        max_size=30,
    ),
    st.data(),
)
def test_one_at_a_time_histories_pass_and_one_stale_read_is_caught(
    steps: list[tuple[str, int]], data: st.DataObject
) -> None:
    history: list[Request] = []
    current: str | None = initial(1)
    earlier: list[str | None] = []
    for at, (operation, number) in enumerate(steps):
        value = f"v{number}-{at}"
        if operation == "read":
            history.append(request("read", at, at + 0.5, 404 if current is None else 200, current))
        elif operation == "update":
            status = 404 if current is None else 200
            history.append(request("update", at, at + 0.5, status, value))
            if current is not None:
                earlier.append(current)
                current = value
        else:
            history.append(request("delete", at, at + 0.5, 404 if current is None else 204))
            if current is not None:
                earlier.append(current)
                current = None
    assert mismatches(history, initial) == []

    outdated = [value for value in earlier if value != current]
    if outdated:
        stale = data.draw(st.sampled_from(outdated))
        end = len(steps)
        read = request("read", end, end + 0.5, 404 if stale is None else 200, stale)
        [caught] = mismatches([*history, read], initial)
        assert caught.request == read
