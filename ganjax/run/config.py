"""Run configurations: defaults shared by experiments, validation, resume checks.

Experiments (``experiments/*.py``) start from :func:`default_config` and change
what they need. A workdir remembers its config in ``config.json``; resuming with a
config that differs in a key that shapes the model, the optimizer or the data
order is refused (:func:`incompatible_keys`), while changes that are safe (more
steps, other logging or checkpoint intervals, evaluation settings) are allowed.
"""

import json
import os
from pathlib import Path
from typing import Any, Iterable

import ml_collections
from ml_collections import config_dict

from ganjax.utils import paths
from ganjax.utils.errors import UserError

CONFIG_FILE = "config.json"

#: Keys (or key prefixes) that a resumed run must share with the run it resumes.
RESUME_INVARIANT_KEYS = ("seed", "model", "loss", "optim", "data.name", "data.split",
                         "data.pairs", "data.pair_seed", "data.mask_fraction",
                         "data.paired_direction", "data.image_size", "data.channels",
                         "data.patch_size", "data.patch_stride", "data.photo_scale",
                         "train.batch_size", "train.reuse_fake", "train.d_steps",
                         "ema.half_life_images", "ema.rampup", "augment",
                         "train.population", "population.sweep")


def default_config() -> ml_collections.ConfigDict:
  """Every key a run reads, with the seed's defaults (Keras DCGAN on MNIST)."""
  c = ml_collections.ConfigDict()
  c.seed = 0  # initialisation, data order and every random stream of the run
  # Start a new run from the generator and discriminator weights of the newest
  # checkpoint of another run's workdir (fine-tuning, transfer); fresh optimizer
  # states and step 0. Ignored once this run has checkpoints of its own.
  c.init_from = config_dict.placeholder(str)
  c.data = ml_collections.ConfigDict(dict(
      name="mnist",             # TFDS dataset name, "skimage_photos" (builtin), "folder"
      split="train",            # the split trained on (TFDS syntax, e.g. "train[:50%]")
      idx_dir=config_dict.placeholder(str),         # MNIST-format IDX files: no TFDS
      # A folder of PNG/JPEG/WebP images, at any depth (ganjax.data.folder): class
      # subfolders make it labelled; its one split is "train" (slices work); square
      # images of data.image_size (default 64).
      folder=config_dict.placeholder(str),
      channels=config_dict.placeholder(int),        # folder: 1, 3 or unset (as the images are)
      # A prepared dataset (python -m ganjax.prepare): ArrayRecord shards read by
      # grain; its one split is "train" (slices work).
      prepared=config_dict.placeholder(str),
      data_dir=config_dict.placeholder(str),        # TFDS data_dir
      # Image-to-image pairs (ganjax.data.pairs): input made from each image.
      pairs="none",             # none | edges | inpaint | lowres | grayscale
      pair_seed=0,              # seeds the inpainting holes (fixed per example)
      mask_fraction=0.5,        # inpainting hole side / image side
      paired_dir=config_dict.placeholder(str),      # a pix2pix folder of A|B images
      paired_direction="AtoB",  # AtoB: input = left half; BtoA: input = right half
      image_size=config_dict.placeholder(int),      # paired / folder images resized to this
      # data.name="skimage_photos": patches of scikit-image's colour photographs.
      patch_size=32,
      patch_stride=config_dict.placeholder(int),    # default patch_size // 4
      photo_scale=0.5,          # photos scaled by this before cutting patches
      # Datasets up to this size stay on every device (batches gathered inside the
      # step); larger ones stay in host memory and each step sends its batch.
      device_budget_mb=1024,
      # A prepared dataset up to this size is read whole into host memory; a larger
      # one is streamed: each step reads its batch from the shards (bounded memory).
      host_budget_mb=4096,
      read_ahead=8,             # streamed: steps whose batches are read in advance
      read_workers=0,           # streamed: grain worker processes (0: threads)
  ))
  c.model = ml_collections.ConfigDict(dict(
      name="seed",              # seed | dcgan | cgan | pix2pix | resnet
      noise_dim=100,            # latent size
      dropout_rate=0.4,         # the seed model's dropout in G and D
      g_features=256,           # generator width
      d_features=64,            # discriminator width
      spectral_norm=False,      # spectral normalisation of D's weights
      dtype="float32",          # float32 | bfloat16 computation
  ))
  c.loss = ml_collections.ConfigDict(dict(
      adversarial="non_saturating",  # non_saturating | hinge | least_squares | wasserstein
      l1_weight=0.0,                 # G: L1 to the target (image-to-image)
      r1_weight=0.0, r1_every=1,     # D: gradient penalty on reals (lazy if every > 1)
      r2_weight=0.0, r2_every=1,     # D: gradient penalty on fakes
      gp_weight=0.0,                 # D: WGAN-GP penalty on real/fake interpolates
  ))
  # Each network's optimizer (g: the generator's, d: the discriminator's).
  c.optim = ml_collections.ConfigDict(dict(
      g=dict(name="adam", learning_rate=4e-4, b1=0.9, b2=0.999, eps=1e-7),
      d=dict(name="adam", learning_rate=8e-4, b1=0.9, b2=0.999, eps=1e-7)))
  c.train = ml_collections.ConfigDict(dict(
      steps=18_000,            # training steps (default: the seed's 30 epochs of MNIST at batch 100)
      batch_size=100,          # global, over all devices
      reuse_fake=False,        # True: one G forward for both updates (faster)
      d_steps=1,               # discriminator updates per generator update (n_critic)
      max_rollbacks=3,         # non-finite values: roll back at most this often
      # Runs trained together as one program (jax.vmap over members): member m is
      # the run of seed + m (and of its values of population.sweep).
      population=1,
  ))
  # A population's layout and per-member hyperparameters (train.population > 1).
  c.population = ml_collections.ConfigDict(dict(
      member_devices=0,      # devices along the mesh's member axis (0: as many as divide both)
      # How the members are stepped. vmap: one jax.vmap over the members (batched
      # kernels, what fills an accelerator; members equal their single runs to
      # float rounding). sequential: each member in turn by its single run's own
      # compiled step (bit for bit that run). auto: vmap on GPUs and TPUs,
      # sequential on CPUs (where vmap's batched convolutions are slower).
      mode="auto",
      # One value per member for any of these keys, e.g.
      # --config.population.sweep.optim.g.learning_rate="[1e-4,2e-4,4e-4]"
      sweep=_sweep_keys(),
  ))
  # An exponential moving average of the generator's weights, used for samples,
  # the commands and evaluation (ema.for_inference=False: the raw weights).
  c.ema = ml_collections.ConfigDict(dict(
      half_life_images=0,    # 0: off; e.g. 10_000 (StyleGAN2-ADA: 10 x batch / 32 k)
      rampup=0.05,           # half-life at most rampup x images seen (0: no warm-up)
      for_inference=True,    # False: samples and evaluation use the raw weights
  ))
  # Differentiable augmentation of every image D sees (real and fake alike).
  c.augment = ml_collections.ConfigDict(dict(
      policy="",             # "" off; comma-separated: translation, cutout, color
      ada_target=0.0,        # 0: DiffAugment (always on); e.g. 0.6: ADA adapts p
      ada_images=500_000,    # images over which ADA's p can move from 0 to 1
  ))
  c.ckpt = ml_collections.ConfigDict(dict(
      every_steps=500,       # also at the end and when stopped
      keep=3,                # newest checkpoints kept
      async_save=True,       # write in the background while training goes on
  ))
  c.samples = ml_collections.ConfigDict(dict(
      every_steps=500,       # samples/step_<N>.png; also at step 0 and at the end
      num=64,                # images per grid
  ))
  c.log = ml_collections.ConfigDict(dict(
      every_steps=50,        # metrics.jsonl, TensorBoard and the console
      model_summary=False,   # True: a per-layer table of G and D at start (Keras-style)
  ))
  # Sample quality during training (ganjax.evaluation.periodic.PeriodicEvaluator):
  # FID, KID, classifier score, precision/recall... of eval.num_samples generated
  # images against the training data, in a domain classifier's feature space.
  c.eval = ml_collections.ConfigDict(dict(
      every_steps=500,       # 0: off; also off (one warning) when no classifier exists
      num_samples=2000,      # generated images per evaluation (and k-NN/KID set size)
      num_reference=10_000,  # real images in the cached reference statistics
      batch_size=500,        # images per jitted generate+extract call
      # python -m ganjax.classifier output; default
      # ~/.cache/ganjax/classifiers/<data.name, or the idx_dir's name>
      classifier_dir=config_dict.placeholder(str),
  ))
  # Fault injection, to see the NaN rollback work: poison the generator with NaN
  # when step nan_at_step is reached, the first nan_times times (in a population,
  # member nan_member only).
  c.debug = ml_collections.ConfigDict(dict(nan_at_step=-1, nan_times=1, nan_member=0))
  return c


#: Config keys a population can give each member a value of (scalars the step
#: reads as arrays; see ganjax.run.population).
SWEEPABLE_KEYS = tuple(
    [f"optim.{net}.{name}" for net in ("g", "d")
     for name in ("learning_rate", "b1", "b2", "eps", "weight_decay")]
    + [f"loss.{name}" for name in ("l1_weight", "r1_weight", "r2_weight", "gp_weight")]
    + ["ema.half_life_images", "augment.ada_target"])


def _sweep_keys() -> ml_collections.ConfigDict:
  """``population.sweep``: a placeholder list for every key of SWEEPABLE_KEYS."""
  sweep = ml_collections.ConfigDict()
  for key in SWEEPABLE_KEYS:
    *parents, leaf = key.split(".")
    section = sweep
    for parent in parents:
      if parent not in section:
        section[parent] = ml_collections.ConfigDict()
      section = section[parent]
    section[leaf] = config_dict.placeholder(tuple)
  return sweep


def pix2pix_config(features: int = 64, max_depth: int = 8) -> ml_collections.ConfigDict:
  """:func:`default_config` with the pix2pix paper's training recipe.

  U-Net generator (``max_depth`` levels at most, dropout in the 3 innermost
  decoder layers) and 3-layer PatchGAN discriminator, both ``features`` wide;
  non-saturating adversarial loss plus 100 x L1; Adam 2e-4 with b1 = 0.5 for both.
  Experiments then say where the pairs come from.
  """
  c = default_config()
  c.model = ml_collections.ConfigDict(dict(
      name="pix2pix", g_features=features, d_features=features, dropout_rate=0.5,
      dropout_layers=3, max_depth=max_depth, d_layers=3, spectral_norm=False,
      dtype="float32"))
  c.loss.l1_weight = 100.0
  adam = dict(name="adam", learning_rate=2e-4, b1=0.5, b2=0.999, eps=1e-8)
  # Each network's optimizer (g: the generator's, d: the discriminator's).
  # A copy each: with one shared dict, setting optim.d would set optim.g too.
  c.optim = ml_collections.ConfigDict(dict(g=dict(adam), d=dict(adam)))
  c.samples.num = 48  # 16 input | output | target triplets
  return c


_POSITIVE = ("train.steps", "train.batch_size", "ckpt.every_steps", "ckpt.keep",
             "samples.every_steps", "samples.num", "log.every_steps", "eval.num_samples",
             "eval.num_reference", "eval.batch_size", "loss.r1_every", "loss.r2_every",
             "train.d_steps", "data.read_ahead", "train.population")
_NON_NEGATIVE = ("train.max_rollbacks", "eval.every_steps", "data.pair_seed",
                 "debug.nan_times", "data.read_workers", "population.member_devices",
                 "debug.nan_member")
_NON_NEGATIVE_NUMBERS = ("data.device_budget_mb", "data.host_budget_mb",
                         "ema.half_life_images", "ema.rampup",
                         "augment.ada_target", "augment.ada_images",
                         "loss.l1_weight", "loss.r1_weight",
                         "loss.r2_weight", "loss.gp_weight")
_BOOLEANS = ("train.reuse_fake", "ckpt.async_save", "ema.for_inference",
             "log.model_summary")
#: Config keys that name files or directories: stored absolute (see absolute_paths).
PATH_KEYS = ("data.idx_dir", "data.data_dir", "data.paired_dir", "data.folder",
             "data.prepared",
             "eval.classifier_dir", "init_from")


def flatten(config: Any, prefix: str = "") -> dict[str, Any]:
  """{'a.b': value} for every leaf of a (nested) ConfigDict or dict."""
  items = config.items() if hasattr(config, "items") else []
  flat = {}
  for key, value in items:
    name = f"{prefix}{key}"
    if hasattr(value, "items"):
      flat.update(flatten(value, name + "."))
    else:
      flat[name] = value
  return flat


def _is_int(value: Any) -> bool:
  return isinstance(value, int) and not isinstance(value, bool)


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises UserError for values no run can use (checked before any work)."""
  flat = flatten(config)
  for key in _POSITIVE:
    value = flat.get(key)
    if key in flat and (not _is_int(value) or value <= 0):
      raise UserError(f"config.{key} must be a positive integer, not {value!r}")
  for key in _NON_NEGATIVE:
    value = flat.get(key)
    if key in flat and (not _is_int(value) or value < 0):
      raise UserError(f"config.{key} must be an integer >= 0, not {value!r}")
  for key in _NON_NEGATIVE_NUMBERS:
    value = flat.get(key)
    if key in flat and (not isinstance(value, (int, float)) or isinstance(value, bool)
                        or not value >= 0):
      raise UserError(f"config.{key} must be a number >= 0, not {value!r}")
  for key in _BOOLEANS:
    if key in flat and not isinstance(flat[key], bool):
      raise UserError(f"config.{key} must be True or False, not {flat[key]!r}")
  for key in ("data.image_size", "data.patch_size", "data.patch_stride"):
    value = flat.get(key)
    if value is not None and (not _is_int(value) or value <= 0):
      raise UserError(f"config.{key} must be a positive integer, not {value!r}")
  channels = flat.get("data.channels")
  if channels is not None and (not _is_int(channels) or channels not in (1, 3)):
    raise UserError(f"config.data.channels must be 1 (grayscale), 3 (RGB) or unset (as "
                    f"the images are), not {channels!r}")
  mask = flat.get("data.mask_fraction")
  if mask is not None and not (isinstance(mask, (int, float)) and 0 < mask <= 1):
    raise UserError(f"config.data.mask_fraction must be in (0, 1], not {mask!r}")
  scale = flat.get("data.photo_scale")
  if scale is not None and not (isinstance(scale, (int, float)) and scale > 0):
    raise UserError(f"config.data.photo_scale must be positive, not {scale!r}")
  seed = flat.get("seed")
  if not _is_int(seed) or not 0 <= seed < 2**32:
    raise UserError(f"config.seed must be an integer from 0 to 2**32 - 1, not {seed!r}")
  for key in PATH_KEYS:
    value = flat.get(key)
    if value is not None and (not isinstance(value, str) or not value.strip()):
      raise UserError(f"config.{key} must be a path, not {value!r}")


def absolute_paths(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """A copy of ``config`` with the paths of :data:`PATH_KEYS` made absolute.

  A run's config.json is read again by later commands, from any directory.
  """
  config = ml_collections.ConfigDict(config.to_dict())
  for key in PATH_KEYS:
    *parents, leaf = key.split(".")
    section = config
    for parent in parents:
      section = section.get(parent) if section is not None else None
    if section is not None and section.get(leaf) is not None:
      section[leaf] = os.path.abspath(os.path.expanduser(section[leaf]))
  return config


def _is_invariant(key: str, invariant: Iterable[str]) -> bool:
  return any(key == k or key.startswith(k + ".") for k in invariant)


def incompatible_keys(saved: dict[str, Any], current: dict[str, Any],
                      invariant: Iterable[str] = RESUME_INVARIANT_KEYS) -> list[str]:
  """Flattened keys whose values differ and that a resume must not change."""
  # Compared as JSON holds them (a tuple given on the command line is a saved list).
  saved, current = flatten(saved), flatten(json.loads(json.dumps(current)))
  # A key the saved run did not have comes from a newer ganjax: nothing to compare.
  return sorted(key for key in saved
                if _is_invariant(key, invariant) and saved[key] != current.get(key))


def load_saved(workdir: Path) -> dict[str, Any] | None:
  path = Path(workdir) / CONFIG_FILE
  if not path.exists():
    return None
  try:
    return json.loads(path.read_text())
  except (OSError, json.JSONDecodeError) as e:
    raise UserError(f"{path} is unreadable ({e}); restore it or use a new workdir") from e


#: Sections whose keys depend on the model family or optimizer: never filled in.
_FAMILY_SECTIONS = ("model", "optim")


def with_defaults(saved: dict[str, Any]) -> dict[str, Any]:
  """A saved config with the keys it lacks set to their defaults.

  A run saved by an earlier ganjax ran with the behaviour its missing keys now
  default to (a new switch is off by default), so filling them in lets later
  code read every key and lets a resume that turns a new switch on be refused.
  """
  filled = json.loads(json.dumps(saved))
  for key, value in flatten(default_config().to_dict()).items():
    *parents, leaf = key.split(".")
    if parents and parents[0] in _FAMILY_SECTIONS:
      continue
    section = filled
    for parent in parents:
      section = section.setdefault(parent, {})
      if not isinstance(section, dict):
        break
    else:
      section.setdefault(leaf, value)
  return filled


def check_resumable(saved: dict[str, Any] | None, config: ml_collections.ConfigDict,
                    workdir: Path) -> None:
  """Refuses a config that would change the model, optimizer or data order."""
  if saved is None:
    return
  saved = with_defaults(saved)
  differing = incompatible_keys(saved, config.to_dict())
  if differing:
    saved_flat, current_flat = flatten(saved), flatten(config.to_dict())
    changes = ", ".join(f"{k} ({saved_flat.get(k)!r} -> {current_flat.get(k)!r})"
                        for k in differing)
    raise UserError(f"workdir {workdir} holds a run with a different configuration: "
                    f"{changes}; use a new --workdir or the original values")


def write(config: ml_collections.ConfigDict, workdir: Path) -> None:
  """Writes ``workdir/config.json`` atomically (a failed write leaves nothing)."""
  paths.write_json(Path(workdir) / CONFIG_FILE, config.to_dict())


def from_json_dict(saved: dict[str, Any]) -> ml_collections.ConfigDict:
  """A workdir's config.json as a ConfigDict (for the sample/eval commands), with
  the keys an earlier ganjax did not write set to their defaults."""
  return ml_collections.ConfigDict(with_defaults(saved))


def key_meanings() -> dict[str, str]:
  """One-line meanings of config keys, from the comments in :func:`default_config`.

  A key's meaning is the comment on its line, else the comment block right above
  it; keys that several experiments define differently (``model``, ``optim``) are
  explained in their experiment files.
  """
  import inspect
  import re
  meanings, section, pending = {}, "", []
  for line in inspect.getsource(default_config).splitlines():
    code, _, comment = line.partition("#")
    comment = comment.strip()
    if not code.strip():
      pending = pending + [comment] if comment else []
      continue
    started = re.match(r"\s*c\.(\w+)\s*=\s*(ml_collections\.ConfigDict\(dict\()?", code)
    if started:
      section = started.group(1) + "." if started.group(2) else ""
      keys = [] if started.group(2) else [started.group(1)]
      keys += re.findall(r"[(,]\s*(\w+)=", "(" + code[started.end():])  # ConfigDict(dict(a=1))
    else:
      keys = re.findall(r"(?:^|[\s(,])(\w+)=", code)
    meaning = comment or " ".join(pending)
    if started and section and meaning:  # The section's own comment.
      meanings[section[:-1]] = meaning
    for key in keys:
      if meaning:
        meanings[section + key] = meaning
    pending = []
  return meanings


def describe(config: ml_collections.ConfigDict) -> str:
  """Every key of ``config`` as ``key = value  # meaning``, one per line (a key
  without a meaning of its own gets its section's, e.g. ``optim.g.b1``)."""
  flat = flatten(config)
  meanings = key_meanings()

  def meaning_of(key: str) -> str | None:
    parts = key.split(".")
    return next((meanings[".".join(parts[:n])] for n in range(len(parts), 0, -1)
                 if ".".join(parts[:n]) in meanings), None)

  width = max(len(f"{key} = {value!r}") for key, value in flat.items())
  lines = []
  for key, value in flat.items():
    assignment = f"{key} = {value!r}"
    meaning = meaning_of(key)
    lines.append(f"{assignment:<{width}}  # {meaning}" if meaning else assignment)
  return "\n".join(lines)


def experiment_config(path: str | os.PathLike) -> ml_collections.ConfigDict:
  """``get_config()`` of the experiment file at ``path`` (experiments built on
  another one load it with this)."""
  import importlib.util
  spec = importlib.util.spec_from_file_location(Path(path).stem, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()
