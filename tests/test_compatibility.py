"""Readiness by compatibility: generated release histories against the rule of expand/contract."""

from alembic_toolkit.compatibility import SchemaRelease, application_name, survived_contract
from hypothesis import given
from hypothesis import strategies as st


def releases(count: int, contracts: list[bool]) -> list[SchemaRelease]:
    """Release i adds expand E{i} and, when contracts[i], contract C{i} depending on E{i}."""
    built: list[SchemaRelease] = []
    contract: dict[str, str | None] = {"C0": None}
    for i in range(1, count + 1):
        if contracts[i - 1]:
            contract = {**contract, f"C{i}": f"E{i}"}
        older = {"trunk", *(f"E{j}" for j in range(i))}
        built.append(
            SchemaRelease(
                f"E{i}", max(contract, key=lambda c: int(c[1:])), contract, frozenset(older)
            )
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
    history = releases(count, contracts)
    expanded = data.draw(st.integers(0, count), label="expand applied up to release")
    contracted = data.draw(st.integers(0, expanded), label="contract applied up to release")
    # The newest contract revision applied, and the rows Alembic keeps: one per branch head,
    # except that a contract revision depending on the expand head stands for both.
    applied = max([0] + [i for i in range(1, contracted + 1) if contracts[i - 1]])
    contract_row = f"C{applied}"
    expand_row = f"E{expanded}" if expanded else "trunk"
    rows = [contract_row] if applied == expanded and applied else [expand_row, contract_row]
    for number, release in enumerate(history, start=1):
        # Release n runs on the schema while its expand is in and nothing past it contracted.
        survives_up_to = max([0] + [i for i in range(1, number + 1) if contracts[i - 1]])
        compatible = expanded >= number and applied <= survives_up_to
        verdict = release.judge(rows)
        assert (verdict is None) == compatible, (number, rows, verdict)


def test_the_application_name_fits_and_reads_back() -> None:
    release = SchemaRelease("e" * 12, "c" * 12, {"c" * 12: None}, frozenset())
    name = application_name("é" * 80, release)
    assert len(name.encode()) <= 63
    assert survived_contract(name) == "c" * 12
    assert survived_contract("psql") is None
