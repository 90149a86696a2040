"""The byte-code pack (lxcri._pack) and the finder that imports from it (lxcri._boot.PackFinder).

A package of its own under tmp_path stands in for lxcri: modules imported through the
pack must look as the ordinary import makes them, and anything stale, missing or not
this interpreter's must fall back to the ordinary import.
"""
from __future__ import annotations

import os
import py_compile
import sys
from pathlib import Path
from types import ModuleType
from typing import Dict, Iterator, List

import pytest

from lxcri import _pack
from lxcri._boot import PackFinder

PKG = "lxcripacktest"


@pytest.fixture
def package(tmp_path: Path) -> Iterator[Path]:
    """tmp_path/lxcripacktest: a package, a module, a subpackage with a module; pycs
    written (optimization 0); the package's modules forgotten afterwards."""
    top = tmp_path / PKG
    (top / "sub").mkdir(parents=True)
    (top / "__init__.py").write_text("VALUE = 'top'\n")
    (top / "plain.py").write_text("from lxcripacktest.sub import leaf\nVALUE = leaf.VALUE + '!'\n")
    (top / "sub" / "__init__.py").write_text("")
    (top / "sub" / "leaf.py").write_text("VALUE = 'leaf'\n\ndef where():\n    raise RuntimeError('x')\n")
    for path in top.rglob("*.py"):
        py_compile.compile(str(path), optimize=0, doraise=True)
    sys.path.insert(0, str(tmp_path))
    yield top
    sys.path.remove(str(tmp_path))
    _forget()


def _forget() -> None:
    for name in [n for n in sys.modules if n == PKG or n.startswith(PKG + ".")]:
        del sys.modules[name]


def _import_with(finder: PackFinder, name: str) -> ModuleType:
    sys.meta_path.insert(0, finder)
    try:
        __import__(name)
        return sys.modules[name]
    finally:
        sys.meta_path.remove(finder)


def _attrs(module: ModuleType) -> Dict[str, object]:
    spec = module.__spec__
    assert spec is not None
    return {"file": module.__file__, "cached": module.__cached__,
            "package": module.__package__, "path": list(getattr(module, "__path__", [])),
            "name": spec.name, "origin": spec.origin, "parent": spec.parent,
            "has_location": spec.has_location}


def _build(package: Path) -> PackFinder:
    written = _pack.build(str(package), optimize=0)
    assert written == _pack.pack_path(str(package), 0)
    finder = PackFinder.open(written)
    assert finder is not None
    return finder


def test_the_pack_holds_every_module_with_a_pyc(package: Path) -> None:
    finder = _build(package)
    assert sorted(finder.index) == [PKG, f"{PKG}.plain", f"{PKG}.sub", f"{PKG}.sub.leaf"]
    assert finder.missing == ()


def test_modules_from_the_pack_look_as_the_ordinary_import_makes_them(package: Path) -> None:
    __import__(f"{PKG}.plain")
    ordinary = {n: _attrs(sys.modules[n]) for n in (PKG, f"{PKG}.plain", f"{PKG}.sub.leaf")}
    _forget()
    finder = _build(package)
    plain = _import_with(finder, f"{PKG}.plain")
    assert plain.VALUE == "leaf!"
    packed = {n: _attrs(sys.modules[n]) for n in ordinary}
    assert packed == ordinary
    for name in ordinary:
        spec = sys.modules[name].__spec__
        assert spec is not None and spec.loader is finder, name
    # A traceback names the source file and line, as with the ordinary import.
    with pytest.raises(RuntimeError) as caught:
        sys.modules[f"{PKG}.sub.leaf"].where()
    assert caught.traceback[-1].path == package / "sub" / "leaf.py"
    assert not finder.wants_rebuild()


def test_a_source_changed_since_the_pack_is_imported_the_ordinary_way(package: Path) -> None:
    finder = _build(package)
    leaf = package / "sub" / "leaf.py"
    leaf.write_text("VALUE = 'changed, and longer'\n")
    os.utime(leaf, (1, 1))
    module = _import_with(finder, f"{PKG}.sub.leaf")
    assert module.VALUE == "changed, and longer"
    assert module.__spec__ is not None and module.__spec__.loader is not finder
    assert finder.wants_rebuild()


def test_a_module_without_a_pyc_is_left_out_and_known_to_be(package: Path) -> None:
    (package / "nopyc.py").write_text("VALUE = 1\n")
    finder = _build(package)
    assert finder.missing == (f"{PKG}.nopyc",)
    assert _import_with(finder, f"{PKG}.nopyc").VALUE == 1
    assert not finder.wants_rebuild()  # it cannot be packed: no rebuild for it


def test_a_module_the_pack_does_not_know_asks_for_a_rebuild(package: Path) -> None:
    finder = _build(package)
    assert not finder.wants_rebuild()
    (package / "newer.py").write_text("VALUE = 2\n")
    assert _import_with(finder, f"{PKG}.newer").VALUE == 2
    assert finder.wants_rebuild()


@pytest.mark.parametrize("damage", ["truncated", "signature", "magic", "empty"])
def test_a_damaged_or_foreign_pack_is_not_used(package: Path, damage: str) -> None:
    path = _pack.pack_path(str(package), 0)
    _build(package)
    data = Path(path).read_bytes()
    if damage == "truncated":
        data = data[:40]
    elif damage == "signature":
        data = b"NOTAPACK" + data[8:]
    elif damage == "magic":
        import marshal

        length = int.from_bytes(data[8:16], "little")
        _magic, index, missing = marshal.loads(data[16:16 + length])
        head = marshal.dumps((b"\x00\x00\r\n", index, missing))
        data = data[:8] + len(head).to_bytes(8, "little") + head + data[16 + length:]
    else:
        data = b""
    Path(path).write_bytes(data)
    assert PackFinder.open(path) is None


def test_code_the_pack_holds_that_does_not_load_falls_back(package: Path) -> None:
    finder = _build(package)
    # The code of every module overwritten with garbage (the index is intact).
    path = Path(finder.path)
    data = bytearray(path.read_bytes())
    for i in range(finder.start, len(data)):
        data[i] = 0xFF
    path.write_bytes(bytes(data))
    module = _import_with(finder, f"{PKG}.plain")
    assert module.VALUE == "leaf!"
    assert finder.wants_rebuild()


def test_no_pack_where_it_cannot_be_written(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "__pycache__").write_text("a file where the directory would be")
    assert _pack.build(str(tmp_path / "pkg"), optimize=0) is None
    assert sorted(p.name for p in (tmp_path / "pkg").iterdir()) == ["__init__.py", "__pycache__"]


def test_the_pack_is_named_by_interpreter_and_optimization() -> None:
    tag = sys.implementation.cache_tag
    names: List[str] = [os.path.basename(_pack.pack_path("/x", level)) for level in (0, 1, 2)]
    assert names == [f"lxcri-pack.{tag}.bin", f"lxcri-pack.{tag}.opt-1.bin",
                     f"lxcri-pack.{tag}.opt-2.bin"]


def test_boot_looks_where_the_pack_is_written() -> None:
    from lxcri import _boot

    assert _boot._pack_path() == _pack.pack_path()
