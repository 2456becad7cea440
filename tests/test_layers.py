"""The import arrows of ARCHITECTURE.md, read from the source: gradio_ui -> (HTTP) -> serve_app ->
train_jobs -> adapters -> visiontrain. Nothing imports upward, the UI imports no platform code but the
one HTTP client (which the CLI uses too), and no module imports itself through others (a cycle)."""
from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
LAYERS = ("visiontrain", "adapters", "train_jobs", "serve_app", "gradio_ui")  # bottom first
CLIENT = "serve_app.client"  # what the UI may import of the platform (HTTP only)


def _sources(*folders: str) -> list[pathlib.Path]:
    return [p.relative_to(ROOT) for f in folders for p in (ROOT / f).rglob("*.py")]


def _modules() -> dict[str, pathlib.Path]:
    out = {}
    for pkg in LAYERS:
        for path in (ROOT / pkg).rglob("*.py"):
            out[".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")] = path
    return out


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    graph = {}
    for name, path in mods.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                subs = {f"{node.module}.{a.name}" for a in node.names} & set(mods)
                deps |= subs if len(subs) == len(node.names) else subs | {node.module}  # `from pkg import mod`
        graph[name] = {d for d in deps if d in mods}
    return graph


def _layer(module: str) -> int:
    return LAYERS.index(module.split(".")[0])


def test_nothing_imports_upward_and_the_ui_imports_no_platform_code():
    graph = _graph()
    upward = [f"{m} -> {d}" for m, deps in graph.items() for d in deps if _layer(d) > _layer(m)]
    assert upward == []
    ui = [f"{m} -> {d}" for m, deps in graph.items() if m.startswith("gradio_ui") for d in deps
          if not d.startswith("gradio_ui") and d != CLIENT]
    assert ui == []
    assert graph[CLIENT] <= {"visiontrain.errors"}  # the one client: HTTP, and the root of the error tree


def test_the_cli_and_the_ui_share_one_client():
    graph = _graph()
    users = {m for m, deps in graph.items() if CLIENT in deps}
    assert any(m.startswith("gradio_ui") for m in users) and any(m.startswith("serve_app.cli") for m in users)
    assert not any("httpx" in (ROOT / p).read_text() for p in _sources("gradio_ui", "serve_app/cli"))


def test_no_import_cycles():
    graph, cycles = _graph(), []

    def walk(module: str, path: list[str]) -> None:
        for dep in sorted(graph[module]):
            if dep in path:
                cycles.append(path[path.index(dep):] + [dep])
            elif dep not in done:
                walk(dep, path + [dep])
        done.add(module)

    done: set[str] = set()
    for module in sorted(graph):
        if module not in done:
            walk(module, [module])
    assert cycles == []
