"""The needs graph: cycles, run order, upstream sets."""

from workflows.spec.graph import NeedsGraph, names_in


def chain(*edges: tuple[str, list[str]]) -> str:
    """A spec whose jobs (in this order) need the listed jobs."""
    lines = ["jobs:"]
    for name, needs in edges:
        lines += [
            f"  {name}:",
            "    uses: container@v1",
            "    with: {image: x}",
            f"    needs: [{', '.join(needs)}]",
        ]
    return "\n".join(lines) + "\n"


def test_cycle_is_one_error_naming_the_jobs_in_order(spec_errors):
    errors = spec_errors(chain(("a", ["c"]), ("b", ["a"]), ("c", ["b"])))
    assert len(errors) == 1
    error = errors[0]
    assert error.path == "jobs.a.needs[0]"
    assert error.line == 5
    assert "a → c → b → a" in error.message


def test_two_cycles_are_two_errors(spec_errors):
    errors = spec_errors(chain(("a", ["b"]), ("b", ["a"]), ("c", ["d"]), ("d", ["c"])))
    assert [e.path for e in errors] == ["jobs.a.needs[0]", "jobs.c.needs[0]"]
    assert "a → b → a" in errors[0].message
    assert "c → d → c" in errors[1].message


def test_no_cycle_for_a_diamond(valid_spec):
    spec = valid_spec(
        chain(("top", []), ("left", ["top"]), ("right", ["top"]), ("end", ["left", "right"]))
    )
    assert spec.job_names == ("top", "left", "right", "end")
    assert spec.job("end").upstream == {"top", "left", "right"}
    assert spec.dependents("top") == ("left", "right")
    assert spec.dependents("end") == ()


def test_run_order_puts_ready_jobs_in_document_order(valid_spec):
    spec = valid_spec(
        chain(
            ("report", ["prepare"]), ("other", []), ("prepare", []), ("late", ["report", "other"])
        )
    )
    assert spec.job_names == ("other", "prepare", "report", "late")


def test_graph_analyse_directly():
    graph = NeedsGraph(("a", "b", "c", "d"), ((), (0,), (1,), (2, 0)))
    facts = graph.analyse()
    assert facts.cycles == ()
    assert names_in(facts.upstream[3], graph.names) == {"a", "b", "c"}
    assert graph.run_order() == (0, 1, 2, 3)


def test_graph_self_contained_cycle():
    graph = NeedsGraph(("a", "b", "c"), ((1,), (2,), (0,)))
    facts = graph.analyse()
    assert facts.cycles == ((0, 1, 2),)
    assert names_in(facts.upstream[0], graph.names) == {"a", "b", "c"}


def test_long_chain_does_not_recurse():
    n = 5000
    graph = NeedsGraph(tuple(f"j{i}" for i in range(n)), ((),) + tuple((i,) for i in range(n - 1)))
    facts = graph.analyse()
    assert facts.cycles == ()
    assert facts.upstream[-1] == (1 << (n - 1)) - 1
    assert graph.run_order() == tuple(range(n))
