"""The project's apps import each other without loops (a loop makes import order matter, and a
change to one app's imports can break another's start-up). Imports inside functions are allowed:
they run after every app is loaded."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ["articles", "insights", "leads", "newsletter", "referrals"]


def module_level_imports(app):
    """{other app} imported at module level by any module of `app` (migrations excepted)."""
    found = set()
    for path in (ROOT / app).rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for node in ast.parse(path.read_text()).body:
            names = []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            found |= {name.split(".")[0] for name in names} & set(APPS) - {app}
    return found


def test_apps_import_each_other_without_loops():
    graph = {app: module_level_imports(app) for app in APPS}

    def loop_from(app, path):
        for other in sorted(graph[app]):
            if other in path:
                return path[path.index(other) :] + [other]
            found = loop_from(other, path + [other])
            if found:
                return found
        return None

    loops = [loop for app in APPS if (loop := loop_from(app, [app]))]
    assert not loops, "import loops: " + "; ".join(" -> ".join(loop) for loop in loops)
