"""`find_cycles`: every dependency cycle once, whatever hangs off it, in linear time."""

from relay.model.checks import find_cycles


def test_a_dag_has_no_cycles_however_long() -> None:
    chain = {f"s{i}": [f"s{i - 1}"] if i else [] for i in range(5000)}

    assert find_cycles(chain) == []


def test_each_cycle_is_found_once_and_its_tails_are_not_cycles() -> None:
    graph = {
        "a": ["c"],
        "b": ["a"],
        "c": ["b"],
        "tail": ["a"],  # needs a cycle, is not in one
        "self": ["self"],
        "x": ["y", "outside"],  # names outside the graph are ignored
        "y": ["x"],
        "free": [],
    }

    cycles = find_cycles(graph)

    assert sorted(sorted(c) for c in cycles) == [["a", "b", "c"], ["self"], ["x", "y"]]
    for cycle in cycles:  # each is a real cycle: every node needs the next, the last the first
        for node, following in zip(cycle, [*cycle[1:], cycle[0]], strict=True):
            assert following in graph[node]
