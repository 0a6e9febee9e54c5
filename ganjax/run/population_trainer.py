"""The training loop for a population: K runs trained together by one jitted step.

A :class:`PopulationTrainer` is the single-run :class:`~ganjax.run.trainer.Trainer`
with its state stacked along a member axis (:mod:`ganjax.gan.population`) and
sharded over the mesh's ``member`` axis. Each member reads its own batches (the
order of its seed), is reported on its own (``metrics.jsonl`` lines with a
``member`` field, a TensorBoard run, a sample grid) and summarised over the
members (mean, spread, min, max). A member whose values become NaN or infinite
is rolled back alone to the last checkpoint and replays its steps with the
others held; after ``train.max_rollbacks`` it stops, recorded in the checkpoint.
"""

import dataclasses
import functools
import json
import time
from pathlib import Path
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np
import tqdm
from jax.sharding import PartitionSpec

from ganjax.data.pipeline import step_indices, take_rows
from ganjax.gan import population as population_lib
from ganjax.gan import sampling
from ganjax.gan.state import DiscriminatorState, GeneratorState
from ganjax.run import builders, reporting, summary
from ganjax.run import population as population_config
from ganjax.run.trainer import (MetricsWindow, NonFiniteError, Trainer, step_on_examples,
                                step_on_rows)
from ganjax.utils import images, sharding
from ganjax.utils.errors import UserError


@dataclasses.dataclass
class PopulationState:
  """A population's loop state (the interface of :class:`RunState`): the stacked
  states and run keys, and per member on the host its step, whether it still
  trains and how often it was rolled back."""
  g: GeneratorState
  d: DiscriminatorState
  rng: jax.Array
  steps: np.ndarray
  active: np.ndarray
  member_rollbacks: np.ndarray

  @property
  def step(self) -> int:
    """The population's step: that of its members still training (stopped
    members stay at the step they stopped at)."""
    return int(self.steps[self.active].max() if self.active.any() else self.steps.max())

  @property
  def rollbacks(self) -> int:
    return int(self.member_rollbacks.sum())

  def tree(self) -> dict[str, Any]:
    return {"g": self.g, "d": self.d, "rng": self.rng,
            "active": jnp.asarray(self.active),
            "rollbacks": jnp.asarray(self.member_rollbacks, jnp.int32)}


class PopulationTrainer(Trainer):
  """Trains ``train.population`` members as one program (see the module doc)."""

  def __init__(self, config, workdir: Path, data=None, stop=None, devices=None):
    self.members = population_config.size(config)
    self.member_configs = [population_config.member_config(config, m)
                           for m in range(self.members)]
    self.values = population_config.value_arrays(config)
    super().__init__(config, workdir, data=data, stop=stop, devices=devices)
    if self.stream is not None:
      raise UserError("a population reads its batches from memory: the prepared dataset "
                      f"({self.stream.megabytes:,.0f} MB) is larger than "
                      f"data.host_budget_mb={config.data.host_budget_mb}; raise it or "
                      "train its members as single runs")

  # --- what a population builds differently -----------------------------------

  def _make_mesh(self, devices):
    devices = jax.devices() if devices is None else list(devices)
    member_devices = population_config.member_devices(self.config, len(devices))
    return sharding.make_population_mesh(member_devices, devices)

  def _state_initializer(self):
    return builders.population_initializer(self.member_configs, self.model,
                                           self.batch_spec)

  def _abstract_state(self) -> Any:
    return builders.abstract_state(self._init, self.mesh,
                                   sharding.member_sharded(self.mesh))

  def _run_state(self, tree: dict[str, Any], rollbacks: int = 0) -> PopulationState:
    del rollbacks  # Per member, in the tree.
    return PopulationState(tree["g"], tree["d"], tree["rng"],
                           steps=np.asarray(jax.device_get(tree["g"].step)),
                           active=np.asarray(jax.device_get(tree["active"])),
                           member_rollbacks=np.asarray(jax.device_get(tree["rollbacks"])))

  def _compile(self) -> None:
    members, replicated = sharding.member_sharded(self.mesh), sharding.replicated(self.mesh)
    self._init_jit = jax.jit(self._init, out_shardings=members)
    spec = builders.step_spec(population_config.structure_config(self.config), self.model)
    member_step, shared = ((step_on_examples, 1) if self.examples_on_device
                           else (step_on_rows, 0))
    step = functools.partial(
        population_lib.population_step, member_step=member_step, spec=spec,
        configure=builders.hyperparameter_setter(self.config), shared_inputs=shared)
    # Each device group steps only its own members (manual over the member axis,
    # automatic over data): members never communicate, whatever XLA makes of
    # their batched kernels.
    member, everywhere = PartitionSpec(sharding.MEMBER_AXIS), PartitionSpec()
    local = jax.shard_map(
        lambda g, d, rng, values, active, *inputs: step(g, d, rng, *inputs, values=values,
                                                        active=active),
        mesh=self.mesh, in_specs=(member,) * 5 + (everywhere,) * shared + (member,),
        out_specs=member, axis_names={sharding.MEMBER_AXIS}, check_vma=False)
    self._step_jit = jax.jit(
        local, in_shardings=((members,) * 5 + (replicated,) * shared
                             + (sharding.member_batch_sharded(self.mesh),)),
        out_shardings=members, donate_argnums=(0, 1))
    self._values = jax.device_put(self.values, members)
    self._generate_jit = jax.jit(jax.vmap(sampling.generate, in_axes=(0, None, None)),
                                 out_shardings=members)

  def _make_reporter(self) -> reporting.PopulationReporter:
    return reporting.PopulationReporter(self.workdir, self.members, enabled=self.is_lead,
                                        console=tqdm.tqdm.write)

  def _new_window(self, step: int) -> MetricsWindow:
    return PopulationWindow(self.config.train.batch_size * self.members, step)

  # --- the step ------------------------------------------------------------------

  def step_input(self, steps: Any) -> jax.Array:
    """Each member's batch input at its own step (``steps``: a step, or one per
    member): indices into the device-resident examples, or the rows themselves."""
    train = self.config.train
    steps = np.broadcast_to(np.asarray(steps), (self.members,))
    indices = np.stack([step_indices(config.seed, int(step), train.batch_size,
                                     self.num_examples, train.d_steps)
                        for config, step in zip(self.member_configs, steps)])
    placement = sharding.member_batch_sharded(self.mesh)
    if self.examples_on_device:
      return sharding.global_array(indices.shape, placement, lambda index: indices[index])
    rows = {name: value.reshape(indices.shape + value.shape[1:]) for name, value
            in take_rows(self.examples, indices.reshape(-1)).items()}
    return {name: sharding.global_array(value.shape, placement,
                                        lambda index, value=value: value[index])
            for name, value in rows.items()}

  def train_one_step(self, state: PopulationState, step_input: Any,
                     active: Optional[np.ndarray] = None
                     ) -> tuple[PopulationState, dict[str, jax.Array]]:
    """One step of the ``active`` members (default: those still training)."""
    active = state.active if active is None else active
    g, d, metrics = self._step_jit(state.g, state.d, state.rng, self._values,
                                   jnp.asarray(active), *self._shared_inputs, step_input)
    return dataclasses.replace(state, g=g, d=d, steps=state.steps + active), metrics

  def _lowered_step(self, state: PopulationState, step_input: Any) -> Any:
    return self._step_jit.lower(state.g, state.d, state.rng, self._values,
                                jnp.asarray(state.active), *self._shared_inputs, step_input)

  def _next_input(self, state: PopulationState) -> Any:
    return self.step_input(state.steps)

  def _poisoned(self, params: Any) -> Any:
    """NaN in member ``debug.nan_member`` only."""
    poisoned = jnp.arange(self.members) == self.config.debug.nan_member
    return jax.tree.map(
        lambda x: jnp.where(poisoned.reshape((-1,) + (1,) * (x.ndim - 1)),
                            x * np.float32("nan"), x), params)

  # --- reporting, rollbacks ------------------------------------------------------

  def _check_window(self, state, window, progress):
    return self._close_last_window(state, window, progress)[0], False

  def _close_last_window(self, state: PopulationState, window: "PopulationWindow",
                         progress: Optional[tqdm.tqdm] = None
                         ) -> tuple[PopulationState, bool]:
    """Reports each member's metrics; members with NaN/Inf are rolled back alone."""
    step = state.step
    scalars = window.close(step)
    finite = np.asarray(scalars.pop("finite"), bool) | ~state.active
    # Throughput and input wait are the population's; the rest is per member.
    shared = {k: v for k, v in scalars.items() if np.ndim(v) == 0}
    own = {k: v for k, v in scalars.items() if k not in shared}
    training = np.flatnonzero(state.active & finite)
    for m in training:
      self.reporter.member_scalars(step, int(m), {k: float(v[m]) for k, v in own.items()})
    if len(training):
      means = {k: float(np.mean(v[training])) for k, v in own.items()}
      if "images_per_s" in shared and "images_per_s" not in self._last_scalars:
        self._say(summary.speed_line(shared["images_per_s"], self.config.train.batch_size
                                     * self.members, step, self.config.train.steps))
      self._last_scalars = {**means, **shared}
      self.reporter.scalars(step, {**{f"{k}_mean": v for k, v in means.items()}, **shared},
                            console=False)
      if progress is not None:
        postfix = {k: f"{means[k]:.3g}" for k in ("d_loss", "g_loss")}
        if "images_per_s" in shared:
          postfix["img/s"] = f"{shared['images_per_s']:.0f}"
        progress.set_postfix(postfix, refresh=False)
    if not finite.all():
      state = self._roll_back_members(state, ~finite, step)
    return state, True

  def _roll_back_members(self, state: PopulationState, bad: np.ndarray,
                         bad_step: int) -> PopulationState:
    """Members ``bad`` back to the last checkpoint, then replayed to ``bad_step``
    with a moved-on random stream (the others held); a member rolled back more
    than ``train.max_rollbacks`` times stops there instead."""
    limit = self.config.train.max_rollbacks
    while bad.any():
      self.checkpoints.wait()
      restored = self.restore_or_init(announce=False)
      rollbacks = state.member_rollbacks + bad
      stopping = bad & (rollbacks > limit)
      replaying = bad & ~stopping
      take = functools.partial(population_lib.select_members, jnp.asarray(bad))
      moved_on = jax.vmap(jax.random.fold_in)(restored.rng,
                                              jnp.asarray(rollbacks, jnp.uint32))
      state = PopulationState(
          take(restored.g, state.g), take(restored.d, state.d),
          take(population_lib.select_members(jnp.asarray(replaying), moved_on,
                                             restored.rng), state.rng),
          steps=np.where(bad, restored.steps, state.steps),
          active=state.active & ~stopping, member_rollbacks=rollbacks)
      for m in np.flatnonzero(stopping):
        self._warn(f"member {m}: non-finite values by step {bad_step} after {limit} "
                   f"rollbacks: it stops at step {state.steps[m]} (the others go on)")
      if not state.active.any():
        raise NonFiniteError(f"non-finite values in every member by step {bad_step}; "
                             "lower the learning rates or check the data")
      if not replaying.any():
        break
      members = ", ".join(str(m) for m in np.flatnonzero(replaying))
      self._say(f"Non-finite values by step {bad_step} in member(s) {members}: rolled back "
                f"to step {int(state.steps[replaying].min())} and replayed alone; the "
                "random stream moves on so the failure is not replayed.")
      state, bad = self._replay(state, replaying, bad_step)
    return state

  def _replay(self, state: PopulationState, members: np.ndarray, until: int
              ) -> tuple[PopulationState, np.ndarray]:
    """Steps ``members`` alone up to step ``until``; returns which of them
    became non-finite on the way."""
    finite = np.ones(self.members, bool)
    while (state.steps[members] < until).any():
      replaying = members & (state.steps < until)
      state, metrics = self.train_one_step(state, self.step_input(state.steps), replaying)
      finite &= np.asarray(jax.device_get(metrics["finite"])) | ~replaying
    return state, members & ~finite

  def _evaluate(self, state: PopulationState, step: int) -> None:
    """Each member's scores, and their mean, spread, min and max."""
    start = time.perf_counter()
    per_member = {}
    for m in np.flatnonzero(state.active):
      scores = self.evaluator(self.member_generator(state, int(m)), step)
      per_member[int(m)] = scores
      self.reporter.member_scalars(step, int(m), {f"eval/{k}": v for k, v in scores.items()})
    spread = population_config.spread(list(per_member.values()))
    self._last_eval = (step, {k: spread[f"{k}_mean"] for k in next(iter(per_member.values()))})
    self.reporter.scalars(step, {**{f"eval/{k}": v for k, v in spread.items()},
                                 "eval/seconds": time.perf_counter() - start}, console=False)
    self._say(summary.population_eval_line(step, per_member))

  def member_generator(self, state: PopulationState, member: int):
    """Member ``member``'s generator state, replicated over the mesh."""
    return jax.device_put(population_lib.member(state.g, member),
                          sharding.replicated(self.mesh))

  def write_grid(self, state: PopulationState, step: int) -> None:
    """``samples/member_<m>/step_<step>.png`` per member and ``samples/step_<step>.png``
    with one row per member (the same noise for every member)."""
    self._last_grid_step = step
    fake = np.asarray(jax.device_get(self._generate_jit(state.g, self.grid.noise,
                                                        self.grid.condition)))
    if not self.is_lead:
      return
    columns = self.grid.columns or int(np.ceil(np.sqrt(fake.shape[1])))
    rows = []
    for m in range(self.members):
      arranged = self.grid.arrange(fake[m])
      grid = images.save_grid(self._member_grid_path(m, step), arranged,
                              self.model.pixel_range, columns=self.grid.columns)
      self.reporter.member_image(step, m, "samples", grid)
      rows.append(arranged[:columns])
    grid = images.save_grid(self._grid_path(step), np.concatenate(rows),
                            self.model.pixel_range, columns=columns)
    self.reporter.image(step, "samples", grid)

  def _member_grid_path(self, member: int, step: int) -> Path:
    return self.workdir / "samples" / f"member_{member}" / f"step_{step}.png"

  def _facts(self, state):
    self._say(population_config.describe(self.config, self.mesh))
    return dataclasses.replace(super()._facts(state),
                               g_params=summary.parameter_count(
                                   population_lib.member(state.g.params, 0)),
                               d_params=summary.parameter_count(
                                   population_lib.member(state.d.params, 0)))


class SequentialPopulationTrainer(PopulationTrainer):
  """A population (``population.mode=sequential``) whose members are stepped one
  after another, each by the compiled step of its own single run (members whose
  configs differ only in the seed share it): every member is, bit for bit, the
  single run of its seed and values. States are replicated over a mesh of data
  parallelism, as a single run's are."""

  def _make_mesh(self, devices):
    return sharding.make_population_mesh(1, devices)

  def _abstract_state(self) -> Any:
    return builders.abstract_state(self._init, self.mesh)

  def _compile(self) -> None:
    replicated = sharding.replicated(self.mesh)
    self._init_jit = jax.jit(self._init, out_shardings=replicated)
    steps: dict[str, Any] = {}
    self._member_steps, self._member_networks = [], []
    for config in self.member_configs:
      shared = json.dumps({**config.to_dict(), "seed": None}, sort_keys=True, default=str)
      if shared not in steps:
        steps[shared] = self._single_step_jit(builders.step_spec(config, self.model))
      self._member_steps.append(steps[shared])
      # The member's optimizers and EMA settings (static fields of its states).
      abstract = jax.eval_shape(builders.state_initializer(config, self.model,
                                                          self.batch_spec))
      self._member_networks.append((abstract["g"], abstract["d"]))
    self._generate_jit = jax.jit(jax.vmap(sampling.generate, in_axes=(0, None, None)),
                                 out_shardings=replicated)

  def step_input(self, steps: Any) -> list[Any]:
    """Each member's single-run batch input at its own step."""
    steps = np.broadcast_to(np.asarray(steps), (self.members,))
    return [self._input_in_memory(config.seed, int(step))
            for config, step in zip(self.member_configs, steps)]

  def _member_states(self, state: PopulationState, member: int):
    g, d = (population_lib.member(tree, member) for tree in (state.g, state.d))
    g_own, d_own = self._member_networks[member]
    return g.replace(tx=g_own.tx, ema=g_own.ema), d.replace(tx=d_own.tx)

  def train_one_step(self, state: PopulationState, step_input: list[Any],
                     active: Optional[np.ndarray] = None
                     ) -> tuple[PopulationState, dict[str, jax.Array]]:
    active = state.active if active is None else active
    gs, ds, metrics = [], [], {}
    for m in range(self.members):
      g, d = self._member_states(state, m)
      if active[m]:
        g, d, metrics[m] = self._member_steps[m](g, d, state.rng[m], *self._shared_inputs,
                                                step_input[m])
      gs.append(g)
      ds.append(d)
    # A held member reports nothing: its metrics are placeholders, never read.
    placeholder = jax.tree.map(jnp.zeros_like, next(iter(metrics.values())))
    stacked = population_lib.stack([metrics.get(m, placeholder)
                                    for m in range(self.members)])
    return dataclasses.replace(state, g=population_lib.stack(gs),
                               d=population_lib.stack(ds),
                               steps=state.steps + active), stacked

  def _lowered_step(self, state: PopulationState, step_input: list[Any]) -> Any:
    """Member 0's step (every member's costs the same)."""
    g, d = self._member_states(state, 0)
    return self._member_steps[0].lower(g, d, state.rng[0], *self._shared_inputs, step_input[0])


class PopulationWindow(MetricsWindow):
  """A window whose means keep one value per member."""

  @staticmethod
  def _value(mean: np.ndarray) -> Any:
    return mean
