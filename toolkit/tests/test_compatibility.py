"""Readiness by compatibility: generated release histories against the rule of expand/contract."""

from alembic_toolkit.compatibility import APPLICATION_NAME_BYTES, SchemaRelease, application_name
from hypothesis import given
from hypothesis import strategies as st


def releases(count: int, contracts: list[bool], renames: list[bool]) -> list[SchemaRelease]:
    """Release i adds expand E{i} and, when contracts[i], contract C{i} depending on E{i}; a
    contract that renames (renames[i]) is one every release from i on needs."""
    built: list[SchemaRelease] = []
    contract: set[str] = {"C0"}
    needs: set[str] = set()
    for i in range(1, count + 1):
        if contracts[i - 1]:
            contract = {*contract, f"C{i}"}
            if renames[i - 1]:
                needs = {*needs, f"C{i}"}
        older = {"trunk", *(f"E{j}" for j in range(i))}
        newest = max(contract, key=lambda c: int(c[1:]))
        built.append(
            SchemaRelease(f"E{i}", newest, frozenset(contract), frozenset(older), frozenset(needs))
        )
    return built


@given(
    data=st.data(),
    count=st.integers(1, 6),
)
def test_a_release_is_ready_exactly_between_its_expand_and_the_next_contract(
    data: st.DataObject, count: int
) -> None:
    contracts = data.draw(st.lists(st.booleans(), min_size=count, max_size=count))
    renames = data.draw(st.lists(st.booleans(), min_size=count, max_size=count))
    history = releases(count, contracts, renames)
    expanded = data.draw(st.integers(0, count), label="expand applied up to release")
    contracted = data.draw(st.integers(0, expanded), label="contract applied up to release")
    # Every applied revision, as the toolkit records it, whatever Alembic keeps as heads:
    # with depends_on, one head can stand for several branches.
    applied: dict[str, str | None] = {"trunk": None, "E0": "expand", "C0": "contract"}
    applied |= {f"E{i}": "expand" for i in range(1, expanded + 1)}
    applied |= {f"C{i}": "contract" for i in range(1, contracted + 1) if contracts[i - 1]}
    # Expand revisions of releases not yet built, applied ahead: additive, so harmless.
    ahead = data.draw(st.integers(0, 3), label="unknown expand revisions applied")
    applied |= {f"X{i}": "expand" for i in range(ahead)}
    newest_contract = max([0] + [i for i in range(1, contracted + 1) if contracts[i - 1]])
    for number, release in enumerate(history, start=1):
        # Release n runs on the schema while its expand is in and nothing past it contracted,
        # once every renaming contract of its own tree is in.
        survives_up_to = max([0] + [i for i in range(1, number + 1) if contracts[i - 1]])
        needs_up_to = max(
            [0] + [i for i in range(1, number + 1) if contracts[i - 1] and renames[i - 1]]
        )
        compatible = (
            expanded >= number and newest_contract <= survives_up_to and contracted >= needs_up_to
        )
        verdict = release.judge(applied)
        assert (verdict is None) == compatible, (number, applied, verdict)


@given(label=st.text(max_size=100))
def test_the_application_name_fits_and_names_the_contract(label: str) -> None:
    release = SchemaRelease("e" * 12, "c" * 12, frozenset({"c" * 12}), frozenset())
    name = application_name(label, release)
    assert len(name.encode()) <= APPLICATION_NAME_BYTES
    assert name.endswith(f"(survives contract {'c' * 12})")
