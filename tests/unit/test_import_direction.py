"""Imports run one way through the package: commands > run > evaluation > gan >
models = data > nn > utils (issue 11).

Every module under ``ganjax/`` is parsed with ``ast``, imports inside functions
included (that is how an upward dependency hides from a reader), and every
import of a higher layer, or between the two library packages of equal rank
(models and data), is listed in one failure. Imports within one package are
free.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "ganjax"

#: Subpackage -> rank; a module may import only from lower ranks (or its own package).
RANKS = {"run": 6, "evaluation": 5, "gan": 4, "models": 3, "data": 3, "nn": 2,
         "utils": 1}
#: Top-level modules (``ganjax/*.py``) are the commands, above everything.
COMMANDS = "commands"
RANKS_WITH_COMMANDS = {COMMANDS: 7, **RANKS}


def module_name(path: Path, root: Path) -> str:
  """``<root>/run/config.py`` -> ``ganjax.run.config``; a package is its ``__init__``."""
  parts = path.relative_to(root.parent).with_suffix("").parts
  return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str | None:
  """The layer of a ``ganjax...`` module; None for ``ganjax`` itself and for
  modules outside the package."""
  parts = module.split(".")
  if parts[0] != "ganjax" or len(parts) == 1:
    return None
  return parts[1] if parts[1] in RANKS else COMMANDS


def imported_modules(path: Path, root: Path) -> list[tuple[int, str]]:
  """(line, module) of every import in the file, relative ones resolved.

  ``from a.b import c`` counts as ``a.b.c`` when that is a module or package
  of ours, else as ``a.b``: either way its layer is the right one.
  """
  package = module_name(path, root).split(".")
  if path.name != "__init__.py":
    package = package[:-1]
  found = []
  for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
    if isinstance(node, ast.Import):
      found += [(node.lineno, alias.name) for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
      origin = node.module
      if node.level:
        base = package[:len(package) - (node.level - 1)]
        origin = ".".join(base + ([node.module] if node.module else []))
      for alias in node.names:
        candidate = f"{origin}.{alias.name}"
        found.append((node.lineno, candidate if _is_module(candidate, root) else origin))
  return found


def _is_module(module: str, root: Path) -> bool:
  parts = module.split(".")
  if parts[0] != "ganjax":
    return False
  path = root.parent.joinpath(*parts)
  return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def wrong_way_imports(root: Path = PACKAGE) -> list[str]:
  """``file:line: importer (layer) imports imported (layer)`` for each import of a
  higher layer or of another package of the same rank."""
  wrong = []
  for path in sorted(root.rglob("*.py")):
    importer = module_name(path, root)
    low = layer_of(importer)
    if low is None:
      continue
    for line, imported in imported_modules(path, root):
      high = layer_of(imported)
      if high is not None and high != low and \
          RANKS_WITH_COMMANDS[high] >= RANKS_WITH_COMMANDS[low]:
        wrong.append(f"{path.relative_to(root.parent)}:{line}: {importer} ({low}) "
                     f"imports {imported} ({high})")
  return wrong


def test_every_subpackage_has_a_layer():
  """A new subpackage must be placed in the order before it can be checked."""
  packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
  assert packages <= set(RANKS), f"not in RANKS: {sorted(packages - set(RANKS))}"


def test_imports_run_downwards_only():
  wrong = wrong_way_imports()
  assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def test_the_check_finds_upward_local_relative_and_sideways_imports(tmp_path):
  """The check itself, on a made-up package: an upward import inside a function,
  a relative one up to a command and a models -> data one are each reported;
  downward and same-package imports are not."""
  root = tmp_path / "ganjax"
  for package in ("run", "data", "models", "utils"):
    (root / package).mkdir(parents=True)
    (root / package / "__init__.py").write_text("")
  files = {
      "__init__.py": "",
      "main.py": "from ganjax.run import trainer\n",
      "run/trainer.py": "from ganjax.utils import paths\nimport numpy\n",
      "utils/paths.py": "from . import other\ndef f():\n  from ganjax.run import trainer\n",
      "utils/other.py": "from .. import main\n",
      "models/m.py": "import ganjax.data.d\n",
      "data/d.py": "from ganjax.utils.paths import f\n",
  }
  for name, text in files.items():
    (root / name).write_text(text)
  wrong = wrong_way_imports(root)
  assert wrong == [
      "ganjax/models/m.py:1: ganjax.models.m (models) imports ganjax.data.d (data)",
      "ganjax/utils/other.py:1: ganjax.utils.other (utils) imports ganjax.main (commands)",
      "ganjax/utils/paths.py:3: ganjax.utils.paths (utils) imports ganjax.run.trainer "
      "(run)"]
