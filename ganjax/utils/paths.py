"""The files a command will read or write, checked before it does any work.

Every check raises :class:`ganjax.utils.errors.UserError` with one sentence that names
the flag, and none of them leaves anything behind: a directory is tested for
writing by creating and removing a temporary file in it (permission bits alone
do not tell, e.g. for root or on a read-only mount). Writes go through
:func:`write_atomically`: a temporary file renamed into place, removed (with
any directory it created) when the write fails.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence, Union

from ganjax.utils.errors import UserError

PathLike = Union[str, os.PathLike]

#: Run files a command's output must never replace or land in.
RUN_FILES = ("config.json", "metrics.jsonl")
RUN_DIRS = ("checkpoints", "tensorboard")


def require_non_empty(*flag_names: str) -> None:
  """Makes ``--flag ""`` a one-line usage error for each named string flag.

  An empty path would otherwise mean the current directory.
  """
  from absl import flags
  for name in flag_names:
    flags.register_validator(name, lambda value: value is None or value.strip() != "",
                             message="must not be empty")


def describe(error: OSError) -> str:
  """``No space left on device`` rather than ``[Errno 28] ...: '/long/path'``."""
  return error.strerror or str(error) or type(error).__name__


def _nearest_existing(path: Path) -> Path:
  while not os.path.lexists(path) and path != path.parent:
    path = path.parent
  return path


def probe_writable(directory: Path, what: str) -> None:
  """Raises UserError unless a file can be created in ``directory`` (none is left)."""
  try:
    fd, name = tempfile.mkstemp(prefix=".ganjax-probe-", dir=directory)
  except OSError as e:
    raise UserError(f"cannot write {what}: cannot create a file in {directory} "
                    f"({describe(e)})") from e
  os.close(fd)
  os.unlink(name)


def check_writable_dir(directory: PathLike, what: str) -> Path:
  """Checks that ``directory`` exists as a writable directory or can be created.

  Args:
    directory: where the command will write.
    what: names the output in the message, e.g. ``"--workdir /x"``.
  Returns:
    The directory as an absolute path; nothing is created.
  """
  directory = Path(directory).expanduser().absolute()
  existing = _nearest_existing(directory)
  if not existing.is_dir():
    raise UserError(f"cannot write {what}: {existing} is "
                    f"{'a file' if existing.exists() else 'not a directory'}")
  probe_writable(existing, what)
  return directory


#: The image formats commands write, by file suffix: (name, leading bytes).
IMAGE_FORMATS = {".png": ("PNG", (b"\x89PNG\r\n\x1a\n",)),
                 ".gif": ("GIF", (b"GIF87a", b"GIF89a"))}


def _looks_like(path: Path, suffix: str) -> bool:
  try:
    with open(path, "rb") as file:
      return file.read(8).startswith(IMAGE_FORMATS[suffix][1])
  except OSError:
    return False


def names_folder(path: str) -> bool:
  """Whether an output path asks for a folder: it ends with a separator (an existing
  folder named without one is refused as a file name, so a typo writes nothing)."""
  return path.endswith(os.sep)


def check_output_file(path: PathLike, flag: str, png: bool = False,
                      protected: Iterable[PathLike] = (),
                      formats: Sequence[str] = ()) -> Path:
  """Checks that ``path`` can be written as a new version of a regular file.

  Refused: a directory (or a path ending in a separator), an existing file that
  is not a regular file (``/dev/null`` would be replaced by the rename), a path
  through a file, an unwritable directory, a file of a ganjax run (its
  ``config.json``, checkpoints...), with ``png`` an existing file that is not a
  PNG image (a typo must not destroy it), with ``formats`` a name that does not
  end in one of them or an existing file that is not an image of the format its
  suffix names, and any path in ``protected`` (the command's own inputs).

  Args:
    path: the file to write.
    flag: names the file in messages.
    png: the command writes a PNG image, whatever the suffix.
    protected: files the command reads.
    formats: suffixes of :data:`IMAGE_FORMATS` (e.g. ``(".png", ".gif")``): the
      command writes the format the suffix names (any case).

  Returns:
    The absolute path; nothing is created.
  """
  text = os.fspath(path)
  target = Path(text).expanduser().absolute()
  if text.endswith(os.sep) or target.is_dir() or Path(text).name in ("", ".", ".."):
    raise UserError(f"{flag} {text} is a directory; name the file to write")
  if os.path.lexists(target) and not (target.is_file()):
    raise UserError(f"{flag} {text} exists and is not a regular file")
  inside_run = _run_file(target)
  if inside_run:  # Named first: the damage a typo would do matters most.
    raise UserError(f"{flag} {text} would overwrite {inside_run}; write elsewhere")
  suffix = ".png" if png else target.suffix.lower()
  if formats and suffix not in formats:
    raise UserError(f"{flag} {text} must end with {' or '.join(formats)} (the image "
                    "format to write)")
  for other in protected:
    if other is not None and os.path.exists(other) and target.exists() and \
        os.path.samefile(other, target):
      raise UserError(f"{flag} {text} is also an input of this command; "
                      "name another file")
  if (png or formats) and target.exists() and target.stat().st_size and \
      not _looks_like(target, suffix):
    raise UserError(f"{flag} {text} exists and is not a {IMAGE_FORMATS[suffix][0]} "
                    "image; refusing to overwrite it")
  check_writable_dir(target.parent, f"{flag} {text}")
  return target


def _run_file(path: Path) -> Optional[str]:
  """What of a ganjax run ``path`` is or lies in (None: not part of a run)."""
  for parent in path.parents:
    if parent.name in RUN_DIRS and (parent.parent / "config.json").is_file():
      return f"the {parent.name}/ of the run in {parent.parent}"
  if path.name in RUN_FILES and (path.parent / "config.json").is_file():
    return f"the {path.name} of the run in {path.parent}"
  return None


def check_input_file(path: PathLike, flag: str) -> Path:
  """Checks that ``path`` is an existing, readable regular file."""
  target = Path(os.fspath(path)).expanduser().absolute()
  if not target.exists():
    raise UserError(f"{flag} {path} does not exist")
  if target.is_dir():
    raise UserError(f"{flag} {path} is a directory, not a file")
  try:
    with open(target, "rb"):
      pass
  except OSError as e:
    raise UserError(f"{flag} {path} cannot be read ({describe(e)})") from e
  return target


def check_input_dir(path: PathLike, flag: str) -> Path:
  """Checks that ``path`` is an existing directory."""
  target = Path(os.fspath(path)).expanduser().absolute()
  if not target.exists():
    raise UserError(f"{flag} {path} does not exist")
  if not target.is_dir():
    raise UserError(f"{flag} {path} is not a directory")
  return target


def check_run_dir(workdir: PathLike, flag: str = "--workdir") -> Path:
  """Checks that ``workdir`` holds a ganjax run (config.json and checkpoints/).

  Returns:
    The absolute workdir.
  """
  directory = check_input_dir(workdir, flag)
  config, checkpoints = directory / "config.json", directory / "checkpoints"
  if not config.is_file() or not checkpoints.is_dir():
    missing = " and ".join(name for name, there in (
        ("config.json", config.is_file()), ("checkpoints/", checkpoints.is_dir()))
        if not there)
    raise UserError(f"{flag} {workdir} holds no ganjax run (no {missing}); train one "
                    "with python -m ganjax.main --config ... --workdir ...")
  try:
    saved = json.loads(config.read_text())
  except (OSError, ValueError) as e:
    raise UserError(f"{config} is unreadable ({describe(e) if isinstance(e, OSError) else e}"
                    "); restore it from a copy") from e
  if not isinstance(saved, dict) or not all(
      isinstance(saved.get(key), dict) for key in ("model", "data", "optim")):
    raise UserError(f"{config} is not a ganjax run config (no model, data and optim "
                    "sections); restore it from a copy")
  return directory


def write_atomically(path: PathLike, write: Callable[[Path], None],
                     error: type[UserError] = UserError) -> None:
  """Calls ``write(tmp)``, then renames ``tmp`` to ``path``; all or nothing.

  Missing parent directories are created. When writing fails (disk full, quota,
  permissions...), the temporary file and the directories made for it are
  removed and ``error`` is raised with one sentence; on any other exception
  they are removed too and the exception propagates.
  """
  path = Path(path)
  created = []
  tmp = path.with_name(f".{path.name}.tmp")
  try:
    for parent in reversed([path.parent, *path.parent.parents]):
      if not parent.exists():
        parent.mkdir()
        created.append(parent)
    write(tmp)
    os.replace(tmp, path)
  except BaseException as e:
    _remove(tmp, created)
    if isinstance(e, OSError):
      raise error(f"could not write {path}: {describe(e)}") from e
    raise


def write_json(path: PathLike, document: Any, error: type[UserError] = UserError) -> None:
  """Writes ``document`` as indented, key-sorted JSON through :func:`write_atomically`."""
  text = json.dumps(document, indent=2, sort_keys=True, default=str) + "\n"
  write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), error)


def _remove(tmp: Path, created: list[Path]) -> None:
  try:
    tmp.unlink(missing_ok=True)
  except OSError:
    pass
  for directory in reversed(created):
    try:
      directory.rmdir()
    except OSError:
      break
