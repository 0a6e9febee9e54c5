"""The training loop: one path for every model family, single- or multi-device.

A :class:`Trainer` reads the config (this is the edge where it is read),
builds the data, model, mesh and jitted step, restores the newest readable
checkpoint or initialises, then loops with hooks at intervals: metrics, sample
grids, checkpoints. Everything that shapes the future of the run is in the
checkpoint or derived from (seed, step), so a resumed run is bit-identical to an
uninterrupted one.
"""

import dataclasses
import functools
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Optional

import jax
import ml_collections
import numpy as np
import tqdm
from absl import logging

from ganjax.data import examples as data_examples
from ganjax.data.pipeline import (dataset_megabytes, gather_rows, step_indices, take_rows,
                                  to_model_batch)
from ganjax.data.streaming import StepReader, StepRows
from ganjax.evaluation import periodic
from ganjax.gan import sampling
from ganjax.gan.state import DiscriminatorState, GeneratorState
from ganjax.gan.step import StepSpec, train_step
from ganjax.models import Condition
from ganjax.run import builders
from ganjax.run import config as config_lib
from ganjax.run import reporting, summary
from ganjax.run import workdir as workdir_lib
from ganjax.run.checkpoints import Checkpoints, leaves_by_path, path_name, read_arrays
from ganjax.run.metadata import RunMetadata
from ganjax.run.stopping import StopRequest
from ganjax.utils import images, sharding
from ganjax.utils.errors import UserError

EXIT_NON_FINITE = 3


class NonFiniteError(UserError):
  """Training kept producing NaN/Inf after ``train.max_rollbacks`` rollbacks."""
  exit_code = EXIT_NON_FINITE


def step_on_rows(g_state: GeneratorState, d_state: DiscriminatorState, rng: jax.Array,
                 rows: dict[str, jax.Array], *, spec: StepSpec
                 ) -> tuple[GeneratorState, DiscriminatorState, dict]:
  """Trains one step on a batch of raw rows (uint8 images, integer labels).

  The step key is ``fold_in(rng, step)``: nothing random comes from the host.
  """
  batch = to_model_batch(rows, spec.model.pixel_range)
  key = jax.random.fold_in(rng, g_state.step)
  return train_step(g_state, d_state, batch, key, spec=spec)


def step_on_examples(g_state: GeneratorState, d_state: DiscriminatorState,
                     rng: jax.Array,
                     examples: dict[str, jax.Array], indices: jax.Array, *,
                     spec: StepSpec) -> tuple[GeneratorState, DiscriminatorState, dict]:
  """Gathers rows ``indices`` of device-resident ``examples`` and trains one step."""
  return step_on_rows(g_state, d_state, rng, gather_rows(examples, indices), spec=spec)


@dataclasses.dataclass
class RunState:
  """What the loop carries: the checkpointed pytree and host counters.

  ``step`` is the host's copy of ``g.step``: reading the device's would wait
  for the step in flight, so the loop could not prepare and dispatch the next
  step's input while the device trains.
  """
  g: GeneratorState
  d: DiscriminatorState
  rng: jax.Array
  step: int
  rollbacks: int = 0

  def tree(self) -> dict[str, Any]:
    return {"g": self.g, "d": self.d, "rng": self.rng}


class Trainer:
  """Builds everything a run needs from the config and runs the loop."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: Path,
               data: Optional[tuple[Any, dict[str, np.ndarray]]] = None,
               stop: Optional[StopRequest] = None,
               devices: Optional[list[jax.Device]] = None):
    """Reads the data and builds the model and step; writes nothing.

    Args:
      config: the run's config.
      workdir: the run's directory.
      data: replaces ``config.data`` by (dataset, examples) (benchmarks).
      stop: checked between start-up stages (see :mod:`ganjax.run.stopping`).
      devices: train on these devices only (benchmarks); default: all of them.
    """
    self.config = config
    self.workdir = workdir
    self.is_lead = jax.process_index() == 0
    training = (data_examples.in_memory(*data) if data else
                data_examples.load_training_data(config.data, _head_rows(config),
                                                     seed=config.seed))
    self.dataset, examples = training.dataset, training.examples
    if stop is not None:
      stop.check()
    self.model = builders.model_from_config(config.model, self.dataset.images.shape[1:],
                                            self.dataset.num_classes)
    self.num_examples = training.num_examples
    if self.num_examples < config.train.batch_size:
      raise UserError(f"the dataset ({self.dataset.name}, split {self.dataset.split}) has "
                      f"{self.num_examples:,} examples, fewer than one batch of "
                      f"train.batch_size={config.train.batch_size}")
    self.data_identity = training.identity
    self.spec = builders.step_spec(config, self.model)
    self.mesh = self._make_mesh(devices)
    try:
      sharding.check_batch_size(config.train.batch_size, self.mesh)
    except ValueError as e:
      raise UserError(str(e)) from e
    self.batch_spec = builders.batch_spec(examples)
    self._init = self._state_initializer()
    self.stream = training.stream
    self._reader: Optional[StepReader] = None
    if self.stream is not None:
      self._say(f"The dataset ({self.stream.megabytes:,.0f} MB) is larger than "
                f"data.host_budget_mb={config.data.host_budget_mb}: each step reads its "
                f"batch from {self.stream.directory}.")
    self.examples_on_device = self.stream is None and self._fits_on_devices(examples)
    self.examples = (sharding.put_replicated(examples, self.mesh)
                     if self.examples_on_device else examples)
    self._compile()
    self._nans_injected = 0
    self.evaluator = self._periodic_evaluator(examples)
    self.grid = sampling.grid_inputs(self.model, config.seed, config.samples.num,
                                     self.dataset.num_classes, examples)
    self._last_grid_step: Optional[int] = None
    self._last_scalars: dict[str, float] = {}
    self._last_eval: Optional[tuple[int, dict[str, float]]] = None
    # Opened by train(), under the workdir lock: nothing is written before.
    self.checkpoints: Optional[Checkpoints] = None
    self.reporter: Optional[reporting.Reporter] = None

  def _make_mesh(self, devices: Optional[list[jax.Device]]) -> jax.sharding.Mesh:
    return sharding.make_mesh(devices)

  def _state_initializer(self):
    """The jittable ``() -> tree`` of a fresh run's checkpointed state."""
    return builders.state_initializer(self.config, self.model, self.batch_spec)

  def _abstract_state(self) -> Any:
    return builders.abstract_state(self._init, self.mesh)

  def _run_state(self, tree: dict[str, Any], rollbacks: int = 0) -> "RunState":
    """The loop's state from a checkpointed (or freshly initialised) tree."""
    return RunState(tree["g"], tree["d"], tree["rng"], int(tree["g"].step), rollbacks)

  def _periodic_evaluator(self, examples: dict[str, np.ndarray]):
    """FID & co. every ``eval.every_steps``, when a domain classifier exists.

    With several processes every process builds it (the classifier is read
    through orbax, whose barriers need all processes) but only the lead runs it,
    on its own devices and its copy of the replicated generator
    (:func:`_process_local`); the others wait for it at the next step.
    """
    ev = self.config.eval
    if not ev.every_steps or self.model.condition == Condition.IMAGE:
      return None
    directory = periodic.locate_classifier(ev.classifier_dir, self.config.data.name,
                                           self.config.data.idx_dir, say=self._warn,
                                           folder=self.config.data.get("folder"),
                                           prepared=self.config.data.get("prepared"))
    if directory is None:
      return None
    return periodic.PeriodicEvaluator(
        self.model, directory, examples, num_samples=ev.num_samples,
        seed=self.config.seed, mesh=self.mesh if jax.process_count() == 1 else None,
        batch_size=ev.batch_size, num_reference=ev.num_reference)

  def _fits_on_devices(self, examples: dict[str, np.ndarray]) -> bool:
    """Whether the dataset stays on the devices (``data.device_budget_mb``)."""
    size, budget = dataset_megabytes(examples), self.config.data.device_budget_mb
    if size <= budget:
      return True
    self._say(f"The dataset ({size:,.0f} MB) is larger than data.device_budget_mb="
              f"{budget}: it stays in host memory and each step sends its batch.")
    return False

  def _compile(self) -> None:
    replicated = sharding.replicated(self.mesh)
    self._init_jit = jax.jit(self._init, out_shardings=replicated)
    self._step_jit = self._single_step_jit(self.spec)
    self._generate_jit = jax.jit(sampling.generate, out_shardings=replicated)

  def _single_step_jit(self, spec: StepSpec):
    """A run's jitted step: ``(g, d, rng, [examples,] batch input) -> (g, d, metrics)``.

    The batch input (indices into device-resident examples, or the rows
    themselves) is split over the devices; everything else is replicated.
    """
    replicated = sharding.replicated(self.mesh)
    step_fn, inputs = ((step_on_examples, (replicated,)) if self.examples_on_device
                       else (step_on_rows, ()))
    return jax.jit(
        functools.partial(step_fn, spec=spec),
        in_shardings=(replicated,) * 3 + inputs + (sharding.batch_sharded(self.mesh),),
        out_shardings=replicated, donate_argnums=(0, 1))

  def restore_or_init(self, announce: bool = True) -> RunState:
    """The newest readable checkpoint, or a freshly initialised state.

    Raises:
      IncompatibleCheckpointError: the newest intact checkpoint does not fit.
      UserError: it was trained with another config or on other data.
    """
    restored = None
    if self.checkpoints is not None or workdir_lib.checkpoint_steps(self.workdir):
      restored = self._open_checkpoints().restore_latest(self._abstract_state(),
                                                         self._check_meta)
      for skipped in restored.skipped if restored else self.checkpoints.last_skipped:
        self._warn(f"skipped checkpoint {skipped}")
    if restored is None:
      state = self._run_state(self._init_jit())
      return self._init_from(state) if self.config.init_from else state
    if announce:
      self._say(f"Resuming from checkpoint at step {restored.step} "
                f"({self.checkpoints.directory / str(restored.step)})")
    return self._run_state(restored.state, rollbacks=restored.meta.rollbacks)

  def _open_checkpoints(self) -> Checkpoints:
    if self.checkpoints is None:
      self.checkpoints = Checkpoints(self.workdir / workdir_lib.CHECKPOINTS,
                                     self.config.ckpt.keep,
                                     async_save=self.config.ckpt.async_save)
    return self.checkpoints

  def _init_from(self, state: RunState) -> RunState:
    """``state`` with the networks' weights of another run's newest checkpoint.

    Parameters and BatchNorm statistics of both networks are taken; optimizer
    states, step and RNG stay fresh (a new run, e.g. fine-tuning on new data).

    Raises:
      UserError: the other run has no readable checkpoint or other networks.
    """
    source = Path(self.config.init_from)
    for step in workdir_lib.checkpoint_steps(source):
      try:
        arrays = read_arrays(source / workdir_lib.CHECKPOINTS / str(step))
        break
      except Exception as e:  # Damaged: try the next older one.
        self._warn(f"init_from: skipped checkpoint {step} of {source} ({e})")
    else:
      raise UserError(f"config.init_from={source} holds no readable ganjax checkpoint")
    networks = {"g": state.g, "d": state.d}
    weights = {name: {"params": s.params, "batch_stats": s.batch_stats}
               for name, s in networks.items()}
    wanted = leaves_by_path(weights)
    differing = [p for p, leaf in wanted.items()
                 if p not in arrays or arrays[p].shape != leaf.shape
                 or arrays[p].dtype != leaf.dtype]
    if differing:
      raise UserError(f"config.init_from={source} holds other networks "
                      f"({differing[0]}{' ...' if len(differing) > 1 else ''} differs); "
                      "the model settings must match")
    replicated = sharding.replicated(self.mesh)
    loaded = jax.tree_util.tree_map_with_path(
        lambda path, leaf: jax.device_put(arrays[path_name(path)], replicated), weights)
    self._say(f"Starting from the weights of {source} at step {step} (generator and "
              "discriminator; fresh optimizer states)")
    g, d = (networks[name].replace(**loaded[name]) for name in ("g", "d"))
    # The average (if any) starts from the loaded weights.
    return dataclasses.replace(state, g=g.with_average_restarted(), d=d)

  def open_outputs(self) -> None:
    """Opens the run's checkpoints, metrics and TensorBoard files; writes config.json.

    Until a run has a checkpoint, a new command replaces its config.
    """
    self._open_checkpoints()
    self.reporter = self._make_reporter()
    if self.is_lead:
      config_lib.write(self.config, self.workdir)

  def _make_reporter(self) -> reporting.Reporter:
    return reporting.Reporter(self.workdir, enabled=self.is_lead, console=tqdm.tqdm.write)

  def _check_meta(self, meta: RunMetadata) -> None:
    """Refuses a checkpoint of another configuration or of other data."""
    config_lib.check_resumable(meta.config, self.config, self.workdir)
    differences = data_examples.identity_differences(meta.dataset,
                                                     self.data_identity)
    if differences:
      raise UserError(
          f"workdir {self.workdir} holds a run trained on other data: "
          f"{', '.join(differences)}; use the original data (moved is fine), a new "
          f"--workdir, or start a new run from its weights with "
          f"--config.init_from={self.workdir}")

  def _meta(self, state: RunState) -> RunMetadata:
    names = self.dataset.class_names
    return RunMetadata(config=self.config.to_dict(), batch_spec=self.batch_spec,
                       num_classes=self.dataset.num_classes, dataset=self.data_identity,
                       rollbacks=state.rollbacks,
                       class_names=None if names is None else list(names))

  def _say(self, message: str) -> None:
    if self.is_lead:
      tqdm.tqdm.write(message)

  def _warn(self, message: str) -> None:
    if self.is_lead:
      tqdm.tqdm.write(f"ganjax: warning: {message}", file=sys.stderr)

  def step_input(self, step: int) -> Any:
    """The global batch input of ``step``, of which this process feeds its rows.

    Indices into the device-resident examples, or (dataset in host memory) the
    rows themselves.
    """
    if self.stream is not None:
      train = self.config.train
      return sharding.global_batch(self._stream_reader()(step), self.mesh,
                                   train.batch_size * train.d_steps)
    return self._input_in_memory(self.config.seed, step)

  def _input_in_memory(self, seed: int, step: int) -> Any:
    """:meth:`step_input` of the run of ``seed`` when the data is in memory."""
    train = self.config.train
    global_size = train.batch_size * train.d_steps
    indices = step_indices(seed, step, train.batch_size, self.num_examples, train.d_steps)
    mine = indices[sharding.process_slice(global_size)]
    if not self.examples_on_device:
      mine = take_rows(self.examples, mine)
    return sharding.global_batch(mine, self.mesh, global_size)

  def _stream_reader(self) -> StepReader:
    """Reads this process's rows of each step from the prepared dataset, ahead."""
    if self._reader is None:
      train, data = self.config.train, self.config.data
      mine = sharding.process_slice(train.batch_size * train.d_steps)
      rows = StepRows(self.config.seed, train.batch_size, self.num_examples,
                      train.d_steps, mine.start, mine.stop)
      self._reader = StepReader(self.stream, rows, train.steps,
                                read_ahead=data.read_ahead, workers=data.read_workers)
    return self._reader

  def train(self, stop: StopRequest) -> int:
    """Restores or initialises, then trains until ``train.steps`` or a stop.

    Call with the workdir locked. Nothing in the workdir changes before the
    restore has succeeded and ``stop`` has not fired (except damaged
    checkpoints, which are moved aside).
    """
    with stop.deferred():  # An interrupted read is not a damaged checkpoint.
      state = self.restore_or_init()
    stop.start_training(self._open_checkpoints().reached_preemption)
    self.open_outputs()
    self._status("running", state.step)
    # The step as a host integer: after a failure the state's arrays may be gone
    # (donated to a step that did not return).
    self._step_reached = state.step
    try:
      return self._train_from(state, stop)
    except KeyboardInterrupt:
      self._status("stopped", self._step_reached, "interrupted at once (second Ctrl-C)",
                   quiet=True)
      raise
    except BaseException as e:
      self._status("failed", self._step_reached, str(e).splitlines()[0] if str(e) else
                   type(e).__name__, quiet=True)
      raise

  def _status(self, state: str, step: int, reason: str = "", quiet: bool = False) -> None:
    """Records the run's state for ``ganjax.runs``; ``quiet``: while another error
    propagates, a failure to record it (a full disk) must not replace that error."""
    if not self.is_lead:
      return
    try:
      workdir_lib.write_status(self.workdir, state, step, reason)
    except Exception:
      if not quiet:
        raise

  def _train_from(self, state: RunState, stop: StopRequest) -> int:
    """:meth:`train` once the outputs are open: the loop and its ending."""
    dropped = self.reporter.truncate_after(state.step)
    if dropped:
      self._warn(f"dropped {dropped} unreadable line(s) of {reporting.METRICS_FILE}")
    total = self.config.train.steps
    if state.step >= total:
      self._say(f"Already at step {state.step} (train.steps={total}): nothing to do.")
      self._status("finished", state.step)
      return 0
    self._say(summary.start_block(self._facts(state)))
    if self.config.log.model_summary and self.is_lead:
      self._say(summary.layer_tables(self.model, self.grid.noise, self.grid.condition,
                                     self.dataset.images.shape[1:]))
    if state.step == 0:  # What the untrained generator makes: the grids' baseline.
      self.write_grid(state, 0)
    self.reporter.text(state.step, "config", "    " + config_lib.describe(
        self.config).replace("\n", "\n    "))
    first_step, started = state.step, time.perf_counter()  # For the end report.
    state, window = self._loop(state, total, stop)
    state, finite = (self._close_last_window(state, window) if window.pending
                     else (state, True))
    if not finite:
      self._warn(f"non-finite values by step {state.step}: not saving them; the "
                 "last good checkpoint is kept")
    else:
      self.save(state)
      if state.step != self._last_grid_step:  # Finished or stopped between grids.
        self.write_grid(state, state.step)
    self.checkpoints.wait()
    self.reporter.flush()
    self._say(summary.end_report(
        steps=state.step - first_step, seconds=time.perf_counter() - started,
        images_per_s=self._last_scalars.get("images_per_s"),
        losses={k: v for k, v in self._last_scalars.items() if k.endswith("_loss")},
        eval_scores=self._last_eval[1] if self._last_eval else None,
        eval_step=self._last_eval[0] if self._last_eval else None,
        grid=self._grid_path(self._last_grid_step)))
    if stop.requested:
      self._say(f"Stopped at step {state.step}; checkpoint saved in "
                f"{self.checkpoints.directory / str(state.step)}. Resume with:\n  "
                f"{resume_command(self.workdir)}")
      self._status("stopped", state.step, "signal")
      return stop.exit_code
    self._say(f"Finished at step {state.step}. Samples: {self.workdir / 'samples'}; "
              f"checkpoints: {self.checkpoints.directory}")
    self._status("finished", state.step)
    return 0

  def _loop(self, state: RunState, total: int,
            stop: StopRequest) -> tuple[RunState, "MetricsWindow"]:
    window = self._new_window(state.step)
    progress = tqdm.tqdm(total=total, initial=state.step, unit="step", dynamic_ncols=True,
                         disable=None if self.is_lead else True)
    in_flight = None
    with progress:
      while state.step < total and not stop.should_stop(state.step):
        state = self._inject_faults(state)
        started = time.perf_counter()
        step_input = self._next_input(state)
        window.input_wait(time.perf_counter() - started)
        state, metrics = self.train_one_step(state, step_input)
        # The next input is made while this step runs, but no further ahead: on a
        # CPU, steps queued deeper compete with the running one for the cores.
        jax.block_until_ready(in_flight)
        in_flight = metrics
        self._step_reached = state.step
        window.add(metrics)
        progress.update(1)
        if not window.timed:
          window.start_clock(state.step, self._say)
        state = self._hooks(state, window, progress)
    return state, window

  def _next_input(self, state: RunState) -> Any:
    """The input of the step ``state`` is about to train."""
    return self.step_input(state.step)

  def _new_window(self, step: int) -> "MetricsWindow":
    return MetricsWindow(self.config.train.batch_size, step)

  def _close_last_window(self, state: RunState, window: "MetricsWindow"
                         ) -> tuple[RunState, bool]:
    """Reports the metrics of the steps since the last log; False: they are not
    finite (the state is not saved)."""
    return state, self._log_and_check(state.step, window)

  def train_one_step(self, state: RunState, step_input: Any
                     ) -> tuple[RunState, dict[str, jax.Array]]:
    """The jitted step on :meth:`step_input`'s batch (states are donated)."""
    g, d, metrics = self._step_jit(state.g, state.d, state.rng, *self._shared_inputs, step_input)
    return dataclasses.replace(state, g=g, d=d, step=state.step + 1), metrics

  def step_cost(self, state: RunState, step_input: Any) -> dict[str, float]:
    """XLA's cost analysis of the compiled step for these inputs (``flops``,
    ``bytes accessed``, ...): of one device's share when the step is partitioned."""
    cost = self._lowered_step(state, step_input).compile().cost_analysis()
    return dict(cost[0] if isinstance(cost, (list, tuple)) else cost or {})

  @property
  def _shared_inputs(self) -> tuple:
    """The step's inputs before the batch input that every step shares: the
    device-resident examples, when they are on the devices."""
    return (self.examples,) if self.examples_on_device else ()

  def _lowered_step(self, state: RunState, step_input: Any) -> Any:
    return self._step_jit.lower(state.g, state.d, state.rng, *self._shared_inputs, step_input)

  def _hooks(self, state: RunState, window: "MetricsWindow",
             progress: tqdm.tqdm) -> RunState:
    """Work at intervals; values are checked for NaN/Inf before any checkpoint."""
    step = state.step
    every = lambda n: step % n == 0 or step == self.config.train.steps
    log_now, ckpt_now = every(self.config.log.every_steps), every(self.config.ckpt.every_steps)
    if log_now or ckpt_now:
      state, rolled_back = self._check_window(state, window, progress)
      if rolled_back:
        return state
    if step % self.config.samples.every_steps == 0:
      self.write_grid(state, step)
    if (self.evaluator is not None and self.is_lead
        and step % self.config.eval.every_steps == 0):
      start = time.perf_counter()
      self._evaluate(state, step)
      window.exclude(time.perf_counter() - start)  # images_per_s measures training alone
    if ckpt_now:
      self.save(state)
    return state

  def _check_window(self, state: RunState, window: "MetricsWindow", progress: tqdm.tqdm
                    ) -> tuple[RunState, bool]:
    """Reports the window; rolls back (True) when a value is NaN or infinite."""
    if self._log_and_check(state.step, window, progress):
      return state, False
    return self._rollback(state, state.step), True

  def _evaluate(self, state: RunState, step: int) -> None:
    """Periodic evaluation of the generator: scores reported and remembered."""
    start = time.perf_counter()
    scores = self.evaluator(_process_local(state.g), step)
    self._last_eval = (step, scores)
    self.reporter.scalars(step, {**{f"eval/{k}": v for k, v in scores.items()},
                                 "eval/seconds": time.perf_counter() - start},
                          console=False)
    self._say(summary.eval_line(step, scores))

  def _log_and_check(self, step: int, window: "MetricsWindow",
                     progress: Optional[tqdm.tqdm] = None) -> bool:
    """Reports the window's metrics; False when a value became NaN or infinite."""
    scalars = window.close(step)
    if not scalars.pop("finite"):
      return False
    if "images_per_s" in scalars and "images_per_s" not in self._last_scalars:
      self._say(summary.speed_line(scalars["images_per_s"], self.config.train.batch_size,
                                   step, self.config.train.steps))
    self._last_scalars = scalars
    self.reporter.scalars(step, scalars)
    if progress is not None:
      postfix = {k: f"{scalars[k]:.3g}" for k in ("d_loss", "g_loss")}
      if "images_per_s" in scalars:
        postfix["img/s"] = f"{scalars['images_per_s']:.0f}"
      progress.set_postfix(postfix, refresh=False)
    return True

  def save(self, state: RunState) -> None:
    """Starts an asynchronous checkpoint of ``state`` (unless its step has one)."""
    if state.step not in self.checkpoints.steps():
      self.reporter.flush()
      self.checkpoints.save(state.step, state.tree(), self._meta(state))

  def _facts(self, state: RunState) -> summary.RunFacts:
    devices = jax.devices()
    return summary.RunFacts(
        model=self.config.model.name, dataset=self.dataset.name, split=self.dataset.split,
        num_examples=self.num_examples, image_shape=self.dataset.images.shape[1:],
        num_classes=self.dataset.num_classes,
        devices=f"{len(devices)} {devices[0].platform} device(s)"
                + (f" in {jax.process_count()} processes" if jax.process_count() > 1 else ""),
        g_params=summary.parameter_count(state.g.params),
        d_params=summary.parameter_count(state.d.params),
        batch_size=self.config.train.batch_size, step=state.step,
        total_steps=self.config.train.steps, workdir=self.workdir,
        sample_every=self.config.samples.every_steps)

  def _grid_path(self, step: Optional[int]) -> Optional[Path]:
    return None if step is None else self.workdir / "samples" / f"step_{step}.png"

  def write_grid(self, state: RunState, step: int) -> None:
    """Writes ``samples/step_<step>.png`` (and the TensorBoard image) from the
    generator's inference weights; the grid's noise is fixed for the run."""
    self._last_grid_step = step
    fake = np.asarray(self._generate_jit(state.g, self.grid.noise, self.grid.condition))
    if self.is_lead:
      grid = images.save_grid(self._grid_path(step),
                              self.grid.arrange(fake), self.model.pixel_range,
                              columns=self.grid.columns)
      self.reporter.image(step, "samples", grid)

  def _rollback(self, state: RunState, bad_step: int) -> RunState:
    rollbacks = state.rollbacks + 1
    limit = self.config.train.max_rollbacks
    if rollbacks > limit:
      raise NonFiniteError(
          f"non-finite loss or parameters by step {bad_step} after {limit} rollbacks; "
          "lower the learning rates or check the data")
    self.checkpoints.wait()
    restored = self.restore_or_init(announce=False)
    rng = jax.random.fold_in(restored.rng, rollbacks)
    self._say(f"Non-finite loss or parameters by step {bad_step}: rolled back to step "
              f"{restored.step} (rollback {rollbacks} of at most {limit}); the random "
              "stream moves on so the failure is not replayed.")
    self.reporter.truncate_after(restored.step)
    return dataclasses.replace(restored, rng=rng, rollbacks=rollbacks)

  def _inject_faults(self, state: RunState) -> RunState:
    """Poisons the generator with NaN at ``debug.nan_at_step`` (tests the rollback)."""
    debug = self.config.debug
    if state.step != debug.nan_at_step or self._nans_injected >= debug.nan_times:
      return state
    self._nans_injected += 1
    self._warn(f"debug.nan_at_step: injecting NaN into the generator at step {state.step}")
    return dataclasses.replace(state, g=state.g.replace(params=self._poisoned(state.g.params)))

  def _poisoned(self, params: Any) -> Any:
    return jax.tree.map(lambda x: x * np.float32("nan"), params)

  def close(self) -> None:
    """Releases files and threads; never raises (it runs while errors propagate)."""
    for part in (self.checkpoints, self.reporter, self._reader):
      try:
        if part is not None:
          part.close()
      except Exception as e:  # The error being propagated matters more.
        logging.warning("while closing: %s", e)


def _head_rows(config: ml_collections.ConfigDict) -> int:
  """Rows a streamed dataset keeps in memory: the sample grids' and periodic
  evaluation's real images."""
  return max(config.samples.num, config.eval.num_reference if config.eval.every_steps
             else 0)


class MetricsWindow:
  """Per-step metrics since the last fetch, kept on device until then."""

  def __init__(self, batch_size: int, step: int):
    self._batch_size = batch_size
    self._metrics: list[dict] = []
    self._since = time.perf_counter()
    self._since_step = step
    self._input_seconds = 0.0
    self.timed = False

  def add(self, metrics: dict) -> None:
    self._metrics.append(metrics)

  def start_clock(self, step: int, say) -> None:
    """Waits for the first step (compilation) and times throughput from there."""
    jax.block_until_ready(self._metrics[-1])
    now = time.perf_counter()
    say(f"First step (compilation included) took {now - self._since:.1f} s")
    self._since, self._since_step, self.timed = now, step, True
    self._input_seconds = 0.0

  def input_wait(self, seconds: float) -> None:
    """Counts ``seconds`` the loop spent obtaining a batch."""
    self._input_seconds += seconds

  def exclude(self, seconds: float) -> None:
    """Leaves ``seconds`` of non-training work out of the throughput."""
    self._since += seconds

  @property
  def pending(self) -> bool:
    return bool(self._metrics)

  def close(self, step: int) -> dict[str, float]:
    """Means over the window (one device->host transfer), throughput and ``finite``.

    ``images_per_s`` is left out when no step was timed yet (a window holding
    only the compiling first step). ``input_wait_fraction`` is the share of the
    window's time the loop spent obtaining batches: an upper bound on the time
    the devices waited for data (they may have been busy with earlier steps).
    """
    fetched = jax.device_get(self._metrics)
    now = time.perf_counter()
    scalars = {k: self._value(np.mean([m[k] for m in fetched], axis=0)) for k in fetched[0]
               if k != "finite"}
    scalars["finite"] = self._value(np.all([m["finite"] for m in fetched], axis=0))
    if self.timed and step > self._since_step:
      elapsed = max(now - self._since, 1e-9)
      scalars["images_per_s"] = (step - self._since_step) * self._batch_size / elapsed
      scalars["input_wait_fraction"] = min(1.0, self._input_seconds / elapsed)
    self._metrics, self._since, self._since_step = [], now, step
    self._input_seconds = 0.0
    return scalars


  @staticmethod
  def _value(mean: np.ndarray) -> Any:
    """A window's mean as reported: a Python scalar (a population's window keeps
    one value per member)."""
    return mean.item()


def _process_local(tree: Any) -> Any:
  """This process's copy of a replicated pytree (itself with a single process)."""
  if jax.process_count() == 1:
    return tree
  return jax.tree.map(lambda x: x.addressable_data(0), tree)


def resume_command(workdir: Path) -> str:
  """The command that resumes the run: its workdir (the config is saved there) and
  the flags of this process that are not about the config (distributed start)."""
  kept, args = [], iter(sys.argv[1:])
  for arg in args:
    name = arg.split("=")[0].lstrip("-")
    if name in ("config", "workdir") or name.startswith("config."):
      if "=" not in arg and not name.startswith("config."):
        next(args, None)  # --workdir W: its value is the next argument.
      continue
    kept.append(arg)
  return " ".join(["python -m ganjax.main --workdir", shlex.quote(str(workdir)),
                   *(shlex.quote(a) for a in kept)])
