"""The apps depend one way (issue 14, "cut the import cycle"): accounts at the ground; inference's
catalog, keys and usage above it, in that order; webhooks and the URL configuration on top.
``inference/proxy/`` (which runs inside LiteLLM) imports neither Django nor any app. A module
that imports a layer above its own, or imports a project module inside a function, fails here.

Apps hear of what happens below them through signals (accounts/signals.py, keys/signals.py),
connected in their AppConfig.ready: the one place where Django requires a late import.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ("accounts", "audit", "billing", "inference", "keys", "llmaas", "oauth", "usage", "webhooks")

# Longest prefix wins. A module may import its own app, and any module of a lower layer.
LAYERS = {
    "inference.proxy": 0,  # plain Python, shared with LiteLLM
    "llmaas": 1,  # settings, errors, env, limits, the Redis client
    "audit": 2,  # the trail every app writes to
    "llmaas.adminsite": 3,  # admin helpers (they audit)
    "accounts": 4,
    "audit.admin": 5,
    "audit.apis": 5,  # the audit API reads organizations' roles
    "audit.selectors": 5,
    "audit.urls": 5,
    "inference": 6,  # catalog
    "keys": 7,
    "usage": 8,
    "webhooks": 9,
    "billing": 9,
    "oauth": 9,  # the authorization server: issues "Sign in with LLMaaS" keys, maps SSO groups to roles
    "llmaas.urls": 10,
    "llmaas.celery": 10,
    "llmaas.wsgi": 10,
}
# The apps' receivers are connected when Django has loaded every app (it cannot be earlier).
LATE_IMPORTS_ALLOWED = {
    ("keys.apps", "keys.receivers"),
    ("usage.apps", "usage.receivers"),
    ("oauth.apps", "oauth.receivers"),
    ("billing.apps", "billing.receivers"),
    ("inference.apps", "inference.metrics"),
}


def _layer(module: str) -> int:
    for prefix in sorted(LAYERS, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return LAYERS[prefix]
    raise AssertionError(f"{module}: in no layer; add its app to LAYERS")


def _app(module: str) -> str:
    return "inference.proxy" if module.startswith("inference.proxy") else module.split(".")[0]


def _modules() -> list[tuple[str, Path]]:
    found = []
    for app in PROJECT:
        for path in sorted((ROOT / app).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "tests" in parts or "migrations" in parts or parts[-1] in {"pytest_env", "conftest"}:
                continue
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found.append((name, path))
    return found


def _imports(tree: ast.AST) -> list[tuple[ast.stmt, str, bool]]:
    """(statement, imported module, whether inside a function) for every import of ``tree``."""
    out: list[tuple[ast.stmt, str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                out.extend((child, alias.name, in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                out.extend(
                    (child, f"{child.module}.{alias.name}" if _is_module(child.module, alias.name) else child.module,
                     in_function)
                    for alias in child.names
                )  # fmt: skip
            visit(child, nested)

    visit(tree, False)
    return out


def _is_module(package: str, name: str) -> bool:
    base = ROOT.joinpath(*package.split("."))
    return (base / f"{name}.py").exists() or (base / name / "__init__.py").exists()


def _violations() -> list[str]:
    problems: list[str] = []
    for module, path in _modules():
        tree = ast.parse(path.read_text(), filename=str(path))
        for statement, imported, in_function in _imports(tree):
            if imported.split(".")[0] not in PROJECT:
                if module.startswith("inference.proxy") and imported.split(".")[0] in {"django", "rest_framework"}:
                    problems.append(f"{module}:{statement.lineno} imports {imported}: the proxy never imports Django")
                continue
            where = f"{module}:{statement.lineno}"
            if in_function and (module, imported) not in LATE_IMPORTS_ALLOWED:
                problems.append(f"{where} imports {imported} inside a function")
            if module.startswith("inference.proxy") and not imported.startswith("inference.proxy"):
                problems.append(f"{where} imports {imported}: the proxy imports no app")
            elif _app(imported) != _app(module) and _layer(imported) >= _layer(module):
                problems.append(f"{where} imports {imported}, which is not below it")
    return list(dict.fromkeys(problems))


def test_it_finds_no_app_importing_upwards_and_no_function_local_import():
    assert _violations() == []


def test_it_would_catch_an_upward_import_and_a_function_local_one(tmp_path, monkeypatch):
    """The check itself can fail: the two shapes the issue removed are reported."""
    accounts = ast.parse("from keys.models import ApiKey\n")
    local = ast.parse("def f():\n    from accounts.services import organization_create\n")
    assert _imports(accounts)[0][1:] == ("keys.models", False)
    assert _imports(local)[0][1:] == ("accounts.services", True)
    assert _layer("keys.models") > _layer("accounts.models")
    assert _layer("usage.budgets") > _layer("keys.services") > _layer("inference.models")
    assert _layer("llmaas.urls") > _layer("webhooks.apis") > _layer("usage.services")
