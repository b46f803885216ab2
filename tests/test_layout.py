"""Tests about the code itself: the package's layers, and the README's map of it.

The folders of ``refmail/`` are the stages a message passes through, and a
stage may use only the stages below it. :data:`LAYERS` is that order, bottom
first; a unit may import from a unit of a *lower* layer or from itself, never
from one beside or above it. Every import counts — top-level, inside
functions (lazy) and under ``TYPE_CHECKING`` — because a lazy import is still a
dependency, only a later one.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "refmail"

#: Bottom first. Units on one line are beside each other: neither may import the other.
LAYERS: list[tuple[str, ...]] = [
    ("refmail._version", "refmail.errors", "refmail.mail"),
    ("refmail.config",),
    ("refmail.reading",),
    ("refmail.policy",),
    ("refmail.storage",),
    ("refmail.oauth",),
    ("refmail.incoming", "refmail.outgoing", "refmail.render"),
    ("refmail.summaries",),
    ("refmail.workflow",),
    ("refmail.daemon",),
    ("refmail.admin",),
    ("refmail.demo",),
    ("refmail.cli",),
]
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def unit_of(module: str) -> str | None:
    """The layer unit a module belongs to: ``refmail.reading.roles`` → ``refmail.reading``."""
    parts = module.split(".")
    for size in (2, 1):
        candidate = ".".join(parts[:size])
        if candidate in RANK:
            return candidate
    return None


def imports_of(path: Path, module: str | None = None) -> list[tuple[int, str]]:
    """Every refmail module ``path`` imports, with its line, resolved to absolute names."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = (module or module_name(path)).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            # ``from refmail.reading import roles`` imports the module refmail.reading.roles.
            found.append((node.lineno, target))
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
    return [(line, name) for line, name in found if name == "refmail" or name.startswith("refmail.")]


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_module_belongs_to_a_layer() -> None:
    names = [module_name(p) for p in MODULES]
    orphans = [name for name in names if name != "refmail" and unit_of(name) is None]
    assert orphans == [], f"modules outside every layer (add them to LAYERS or move them): {orphans}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_imports_only_go_down(path: Path) -> None:
    me = module_name(path)
    if me == "refmail":
        return  # the package's front door re-exports from below; nothing imports it back
    mine = unit_of(me)
    assert mine is not None
    wrong = []
    for line, target in imports_of(path):
        if target == "refmail":
            wrong.append(f"line {line}: imports the package root (import from the defining module)")
            continue
        theirs = unit_of(target)
        if theirs is None:
            # ``refmail.reading.roles.Party`` resolves through its module; an attribute path is fine.
            continue
        if theirs != mine and RANK[theirs] >= RANK[mine]:
            where = "beside" if RANK[theirs] == RANK[mine] else "above"
            wrong.append(f"line {line}: {target} ({theirs} is {where} {mine})")
    assert wrong == [], f"{me} imports against the layers:\n" + "\n".join(wrong)


def test_the_layer_check_sees_lazy_and_type_checking_imports(tmp_path: Path) -> None:
    """The checker itself must be able to fail: it reads imports inside functions,
    under ``TYPE_CHECKING`` and relative ones, and resolves them."""
    fake = tmp_path / "x.py"
    fake.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from refmail.config import Config\n"
        "def f():\n    from ..workflow import tracker\n"
    )
    targets = {name for _, name in imports_of(fake, module="refmail.mail.x")}
    assert "refmail.config" in targets
    assert "refmail.workflow.tracker" in targets
    assert unit_of("refmail.workflow.tracker") == "refmail.workflow"
    assert RANK["refmail.workflow"] > RANK["refmail.mail"]


# -- the README's map of the modules -----------------------------------------------
def readme_modules() -> set[str]:
    """Module paths the README's "How it is built" map names, as ``refmail/…/x.py``.

    The map has one heading per folder (``### `refmail/mail/` — …``, nested
    ones too: ``### `refmail/reading/rules/` — …``) and a table of that
    folder's modules under it.
    """
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## How it is built", 1)[1].split("\n## ", 1)[0]
    named: set[str] = set()
    folder: str | None = None
    for line in section.splitlines():
        heading = re.match(r"^### `(refmail/(?:[a-z_]+/)*)`", line)
        if heading:
            folder = heading.group(1)
        elif line.startswith("|") and folder is not None:
            named.update(folder + name for name in re.findall(r"`([a-z_]+\.py)`", line))
    return named


def real_modules() -> set[str]:
    return {
        str(p.relative_to(ROOT))
        for p in MODULES
        if p.name != "__init__.py" and not p.name.startswith("_")
    }


def test_readme_names_every_module() -> None:
    missing = sorted(real_modules() - readme_modules())
    assert missing == [], f"modules the README's map does not name: {missing}"


def test_readme_names_no_module_that_is_gone() -> None:
    gone = sorted(readme_modules() - real_modules())
    assert gone == [], f"the README names modules that do not exist: {gone}"
