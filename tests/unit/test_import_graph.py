"""The runtime and the workbench import their modules without a cycle (imports inside functions
included), and nothing the stream or the server runs imports the workbench."""

from stream_classifier_workbench.devtools.code_shape import RUNTIME, WORKBENCH, cycles, import_graph


def test_no_import_cycle_in_the_packages():
    graph = import_graph()
    assert "stream_classifier.stream.pipeline" in graph, "the graph covers the runtime"
    assert "stream_classifier_workbench.building.build" in graph, "the graph covers the workbench"
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(graph.get(module, ()))
    return seen


def test_the_loop_does_not_reach_the_command_line():
    seen = _reachable(import_graph(), "stream_classifier.stream.pipeline")
    assert "stream_classifier.cli" not in seen


def test_the_runtime_never_imports_the_workbench():
    """The runtime wheel and image carry no workbench: a runtime module importing it would fail
    there. The workbench reaches the runtime only through entry points (commands, model builders)."""
    graph = import_graph()
    runtime = [m for m in graph if m == RUNTIME or m.startswith(RUNTIME + ".")]
    assert len(runtime) > 30
    offenders = {m: sorted(e for e in graph[m] if e.startswith(WORKBENCH)) for m in runtime}
    assert {m: e for m, e in offenders.items() if e} == {}


def test_what_run_and_serve_load_stays_in_the_runtime():
    graph = import_graph()
    for entry in ("stream_classifier.stream.runner", "stream_classifier.serve.server", "stream_classifier.cli"):
        reached = _reachable(graph, entry)
        assert not [m for m in reached if m.startswith(WORKBENCH)], entry
