"""The load balancer's record, read back: the ready gaps, and unready probes in the rotation.

The proof's assertions rest on these two readings of the probes, so each is checked here on
timelines small enough to follow by hand.
"""

from bench.zerodowntime.balancer import Gap, Membership, Probe, gaps, unready_while_serving


def probe(replica: str, at: float, status: int = 200) -> Probe:
    return Probe(replica, replica.partition("#")[0], at, status)


JOINED = [Membership("N#1", 0.0, joined=True), Membership("N#2", 0.0, joined=True)]


def test_no_gap_while_one_replica_stays_ready() -> None:
    probes = [probe("N#1", 0.1), probe("N#2", 0.1), probe("N#1", 0.2, 503), probe("N#2", 0.25)]

    assert gaps(probes, JOINED, until=1.0) == []


def test_a_gap_runs_from_the_last_ready_replica_turning_unready_to_the_next_ready_probe() -> None:
    probes = [
        probe("N#1", 0.1),
        probe("N#2", 0.1),
        probe("N#1", 0.2, 503),
        probe("N#2", 0.3, 503),
        probe("N#1", 0.4, 503),
        probe("N+1#1", 0.9),
    ]
    changes = [*JOINED, Membership("N+1#1", 0.8, joined=True)]

    assert gaps(probes, changes, until=2.0) == [Gap(0.3, 0.9)]


def test_a_gap_left_open_ends_with_the_run_and_nothing_after_it_counts() -> None:
    probes = [probe("N#1", 0.1), probe("N#2", 0.1), probe("N#1", 0.5, 0), probe("N#2", 0.6, 0)]
    # The balancer closing after the run takes every replica out: not a gap of the deploy.
    changes = [*JOINED, Membership("N#1", 1.5, joined=False)]

    assert gaps(probes, changes, until=1.0) == [Gap(0.6, 1.0)]


def test_leaving_the_rotation_with_nothing_else_ready_opens_a_gap() -> None:
    probes = [probe("N#1", 0.1), probe("N#2", 0.1), probe("N+1#1", 0.7)]
    changes = [
        *JOINED,
        Membership("N+1#1", 0.6, joined=True),
        Membership("N#1", 0.5, joined=False),
        Membership("N#2", 0.5, joined=False),
    ]

    assert gaps(probes, changes, until=1.0) == [Gap(0.5, 0.7)]


def test_probes_before_joining_or_after_leaving_are_not_held_against_a_replica() -> None:
    changes = [*JOINED, Membership("N#2", 0.5, joined=False), Membership("N+1#1", 0.3, joined=True)]
    probes = [
        probe("N#1", 0.1),
        probe("N#1", 0.2, 503),
        probe("N#2", 0.4),
        probe("N#2", 0.6, 503),
        probe("N+1#1", 0.2, 503),
        probe("N+1#1", 0.35, 0),
    ]

    assert unready_while_serving(probes, changes) == [probes[1], probes[5]]
