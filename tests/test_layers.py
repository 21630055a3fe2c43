"""The apps are layers: ``coaching -> reports -> pipeline -> quotas -> salesmgr``; nothing imports leftwards.

Every import statement in every module of the apps counts, at the top of a
module or inside a function. Only the URL wiring above every app
(``salesmgr/urls.py`` and ``salesmgr/api/urls.py``) may import upward.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("salesmgr", "quotas", "pipeline", "reports", "coaching")
WIRING = {Path("salesmgr/urls.py"), Path("salesmgr/api/urls.py")}


def _imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def upward_imports(root: Path = ROOT) -> list[str]:
    """Every import of a higher layer under ``root``, as ``path:line imports module``."""
    rank = {app: level for level, app in enumerate(LAYERS)}
    found = []
    for app in LAYERS:
        for path in sorted((root / app).rglob("*.py")):
            relative = path.relative_to(root)
            if relative in WIRING:
                continue
            tree = ast.parse(path.read_text(), filename=str(relative))
            for line, module in _imported_modules(tree):
                target = module.split(".")[0]
                if rank.get(target, -1) > rank[app]:
                    found.append(f"{relative}:{line} imports {module}")
    return found


def test_no_app_imports_a_layer_above_it():
    assert upward_imports() == []


def test_the_walk_finds_upward_imports_even_inside_a_function_but_not_in_the_wiring(tmp_path):
    files = {
        "quotas/services.py": "import salesmgr.models\n\ndef f():\n    from pipeline.models import Deal\n",
        "pipeline/models.py": "import coaching\nfrom quotas.models import Territory\n",
        "salesmgr/urls.py": "from reports import views\n",
        "salesmgr/api/urls.py": "from coaching.api import CoachingView\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert upward_imports(tmp_path) == [
        "quotas/services.py:4 imports pipeline.models",
        "pipeline/models.py:1 imports coaching",
    ]
