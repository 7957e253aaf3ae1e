"""The package's modules import each other without a cycle (imports inside functions included)."""

from stream_classifier.devtools.code_shape import cycles, import_graph


def test_no_import_cycle_in_the_package():
    graph = import_graph()
    assert "stream_classifier.stream.pipeline" in graph, "the graph covers the package"
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_the_loop_does_not_reach_the_command_line():
    graph = import_graph()
    seen, todo = set(), ["stream_classifier.stream.pipeline"]
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(graph.get(module, ()))
    assert "stream_classifier.cli" not in seen and "stream_classifier.model.build" not in seen
