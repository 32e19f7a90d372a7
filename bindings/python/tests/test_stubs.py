"""The type stubs cover the whole native module: every public name, and every public
method and attribute of each class (mypy stubtest, as scripts/python.sh runs it with
``--ignore-missing-stub``, checks what the stubs declare but not what they leave out)."""

import ast
from pathlib import Path

import tenantguard as tg
from tenantguard import _native

STUB = Path(tg.__file__).with_name("_native.pyi")


def _stub() -> tuple[set[str], dict[str, set[str]], list[str]]:
    tree = ast.parse(STUB.read_text())
    names: set[str] = set()
    classes: dict[str, set[str]] = {}
    exported: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names.add(node.name)
            members = classes.setdefault(node.name, set())
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    members.add(item.name)
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    members.add(item.target.id)
                elif isinstance(item, ast.Assign):
                    members.update(t.id for t in item.targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name) and t.id == "__all__":
                    exported = list(ast.literal_eval(node.value))
                elif isinstance(t, ast.Name):
                    names.add(t.id)
    return names, classes, exported


def _runtime_names() -> set[str]:
    return {n for n in vars(_native) if not n.startswith("_")}


def test_every_native_name_is_in_the_stub_and_its_all() -> None:
    names, _classes, exported = _stub()
    runtime = _runtime_names()
    assert runtime - names == set(), "public names without a stub"
    assert sorted(runtime | {"__version__"}) == sorted(exported), "the stub's __all__ differs"
    assert set(tg.__all__) - runtime - set(vars(tg._errors)) == {"KeyProvider"}


def test_every_public_member_of_every_class_is_in_the_stub() -> None:
    _names, classes, _exported = _stub()
    missing = {}
    for name in sorted(_runtime_names()):
        cls = getattr(_native, name)
        if not isinstance(cls, type):
            continue
        runtime = {m for m in vars(cls) if not m.startswith("_") or m in _DUNDERS}
        gap = runtime - classes.get(name, set())
        if gap:
            missing[name] = sorted(gap)
    assert missing == {}


# The special methods a caller uses directly (the others come from `object`).
_DUNDERS = {
    "__enter__",
    "__exit__",
    "__len__",
    "__bytes__",
    "__bool__",
    "__iter__",
    "__contains__",
    "__getitem__",
}

