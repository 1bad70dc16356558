"""The package's shape: layered modules, a sorted public surface, typed."""

import ast
from pathlib import Path

import trio_apistar

PACKAGE = Path(trio_apistar.__file__).parent

LAYERS = {
    "_types": 0,
    "_json": 0,
    "exceptions": 0,
    "validation": 1,
    "datastructures": 1,
    "_states": 1,
    "nurseries": 1,
    "http": 2,
    "forms": 2,
    "injector": 2,
    "_inbound": 2,
    "_disconnect": 4,
    "_body": 1,
    "_outbound": 2,
    "_connection": 3,
    "_messages": 2,
    "websocket": 4,
    "routing": 4,
    "bodies": 4,
    "components": 5,
    "limits": 5,
    "planning": 5,
    "cors": 5,
    "fileresponse": 4,
    "staticfiles": 5,
    "context": 6,
    "lifespan": 7,
    "_responding": 7,
    "session": 7,
    "serve": 7,
    "broadcast": 7,
    "exchange": 8,
    "app": 9,
    "schema": 6,
    "openapi": 7,
    "asyncapi": 7,
    "apidocs": 10,
    "templates": 10,
    "test": 10,
    "pytest_plugin": 11,
    "__init__": 12,
}
MAY_IMPORT_TRIO = {
    "_body",
    "_inbound",
    "_disconnect",
    "_outbound",
    "_connection",
    "limits",
    "websocket",
    "nurseries",
    "context",
    "lifespan",
    "exchange",
    "_responding",
    "session",
    "fileresponse",
    "staticfiles",
    "app",
    "templates",
    "serve",
    "test",
    "pytest_plugin",
    "broadcast",
}
MAY_IMPORT_HYPERCORN = {"serve"}
MAY_IMPORT_COREDIS = {"broadcast"}


def _isort_order(names: list[str]) -> list[str]:
    """Constants, then classes, then functions and modules (the order ruff keeps)."""
    return sorted(names, key=lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n))


def _module_level_imports(path: Path) -> list[tuple[str, int]]:
    """(module, level) of imports at module level (lazy imports inside functions are allowed)."""
    found: list[tuple[str, int]] = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If):  # `if TYPE_CHECKING:` blocks do not run
            continue
        if isinstance(node, ast.Import):
            found.extend((alias.name, 0) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module or "", node.level))
    return found


def _sources(name: str) -> list[Path]:
    """The files of a module, or of every module of a subpackage."""
    if (PACKAGE / name).is_dir():
        return sorted((PACKAGE / name).glob("*.py"))
    return [PACKAGE / f"{name}.py"]


def test_every_module_has_a_layer() -> None:
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    modules |= {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert modules == set(LAYERS)


def test_modules_import_only_from_lower_layers() -> None:
    problems = []
    for name, layer in LAYERS.items():
        in_subpackage = (PACKAGE / name).is_dir()
        imports = [imp for path in _sources(name) for imp in _module_level_imports(path)]
        for module, level in imports:
            top = module.split(".")[0]
            if in_subpackage and level == 1:
                continue  # a module of the same subpackage
            if level:  # relative: a module of the package
                if top and LAYERS[top] >= layer:
                    problems.append(f"{name} (layer {layer}) imports .{top} ({LAYERS[top]})")
            elif top == "trio" and name not in MAY_IMPORT_TRIO:
                problems.append(f"{name} imports trio")
            elif top == "hypercorn" and name not in MAY_IMPORT_HYPERCORN:
                problems.append(f"{name} imports hypercorn")

    assert problems == []


def test_only_broadcast_imports_coredis() -> None:
    """coredis is an optional extra: anywhere else, even lazily, `import trio_apistar` needs it."""
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                modules = [node.module or ""]
            else:
                continue
            if (
                any(m.split(".")[0] == "coredis" for m in modules)
                and name not in MAY_IMPORT_COREDIS
            ):
                problems.append(f"{path.relative_to(PACKAGE)} imports coredis")
    assert problems == []


def _all_imports(path: Path) -> list[tuple[str, int]]:
    """(module, level) of every import, lazy and ``TYPE_CHECKING`` ones included."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.extend((alias.name, 0) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module or "", node.level))
    return found


def test_even_lazy_imports_point_downwards() -> None:
    """No import cycle, not even through a function-level or type-checking import."""
    problems = []
    for name, layer in LAYERS.items():
        in_subpackage = (PACKAGE / name).is_dir()
        for path in _sources(name):
            for module, level in _all_imports(path):
                if not level or (in_subpackage and level == 1):
                    continue
                top = module.split(".")[0]
                if top and LAYERS[top] >= layer:
                    problems.append(f"{path.name} imports .{top}")
    assert problems == []


def test_public_surface_is_sorted_and_importable() -> None:
    assert trio_apistar.__all__ == _isort_order(trio_apistar.__all__)
    for name in trio_apistar.__all__:
        assert getattr(trio_apistar, name) is not None
    from trio_apistar import (  # noqa: F401  the names the README promises
        ASGIReceive,
        ASGIScope,
        ASGISend,
        ASyncApp,
        Component,
        Include,
        Route,
        WebSocket,
        http,
    )
    from trio_apistar.exceptions import WebSocketDisconnect  # noqa: F401


def test_every_module_sorts_its_all() -> None:
    for name in LAYERS:
        module_all = getattr(__import__(f"trio_apistar.{name}", fromlist=["*"]), "__all__", None)
        if module_all is not None:
            assert list(module_all) == _isort_order(list(module_all)), name


def test_package_is_typed() -> None:
    assert (PACKAGE / "py.typed").exists()
