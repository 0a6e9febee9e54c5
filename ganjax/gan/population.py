"""A population of runs as one program: the train step mapped over members.

Every leaf of a population's state has a leading member axis. One jitted call
trains all members (``jax.vmap`` of the single-run step): large batched
operations, what fills an accelerator. A member computes what the single run of
its seed computes, to float rounding: XLA batches convolutions and products with
per-member weights into other kernels than one member's, whose sums round
differently. Members may differ in scalar hyperparameters: their values enter
the step as arrays (``values``), and
``configure`` puts them where the single-run step reads them (the optimizer,
the loss weights, the EMA half-life, ADA's target) for the duration of the step.

A member that is not ``active`` keeps its state: rolling one member back and
replaying its steps (or stopping it) leaves the others untouched.
"""

from typing import Any, Callable

import jax
import jax.numpy as jnp

from ganjax.gan.state import DiscriminatorState, GeneratorState
from ganjax.gan.step import StepSpec

#: ``(spec, g, d, values) -> (spec, g, d)`` with one member's hyperparameter
#: values (config key -> scalar array) in place.
Configure = Callable[[StepSpec, GeneratorState, DiscriminatorState, dict[str, jax.Array]],
                     tuple[StepSpec, GeneratorState, DiscriminatorState]]


def stack(trees: list[Any]) -> Any:
  """Members' pytrees as one pytree with a leading member axis.

  The members' arrays must match in shape; their static fields may differ (an
  optimizer built with a member's own learning rate): the first member's are
  kept, and the step puts each member's own values in place (``configure``).
  """
  structure = jax.tree.structure(trees[0])
  leaves = [jax.tree.leaves(tree) for tree in trees]
  return jax.tree.unflatten(structure, [jnp.stack(member_leaves)
                                        for member_leaves in zip(*leaves)])


def member(tree: Any, index: int) -> Any:
  """Member ``index`` of a population pytree."""
  return jax.tree.map(lambda leaf: leaf[index], tree)


def select_members(chosen: jax.Array, new: Any, old: Any) -> Any:
  """``new``'s members where ``chosen`` (a (members,) bool array), ``old``'s
  elsewhere; the result has ``old``'s structure (its static fields)."""
  def pick(new_leaf, old_leaf):
    return jnp.where(chosen.reshape((-1,) + (1,) * (old_leaf.ndim - 1)), new_leaf, old_leaf)
  return jax.tree.unflatten(jax.tree.structure(old), [
      pick(n, o) for n, o in zip(jax.tree.leaves(new), jax.tree.leaves(old))])


def keep_inactive(active: jax.Array, new: Any, old: Any) -> Any:
  """``new`` where the member is ``active`` (a scalar), else ``old``."""
  return jax.tree.map(lambda n, o: jnp.where(active, n, o), new, old)


def population_step(g_state: GeneratorState, d_state: DiscriminatorState, rng: jax.Array,
                    *inputs: Any, values: dict[str, jax.Array], active: jax.Array,
                    member_step: Callable, spec: StepSpec, configure: Configure,
                    shared_inputs: int = 0
                    ) -> tuple[GeneratorState, DiscriminatorState, dict[str, jax.Array]]:
  """``member_step`` for every member at once.

  Args:
    g_state, d_state, rng: the population's states and run keys (member axis first).
    *inputs: ``member_step``'s batch inputs; the first ``shared_inputs`` are the
      same for every member (the device-resident dataset), the others have a
      member axis (each member's rows or indices).
    values: each swept hyperparameter's value per member, (members,) arrays.
    active: (members,) bool; an inactive member's state is returned unchanged.
    member_step: ``(g, d, rng, *inputs, spec=) -> (g, d, metrics)`` of one run.
    spec: the step spec shared by all members (before ``configure``).
    configure: puts one member's ``values`` into the spec and states.

  Returns:
    The states and metrics, each with a member axis.
  """
  def one(g, d, key, member_inputs, member_values, is_active):
    member_spec, g_in, d_in = configure(spec, g, d, member_values)
    new_g, new_d, metrics = member_step(g_in, d_in, key, *member_inputs, spec=member_spec)
    # The static fields carried the member's values during the step only.
    new_g = new_g.replace(tx=g.tx, ema=g.ema)
    new_d = new_d.replace(tx=d.tx)
    return keep_inactive(is_active, new_g, g), keep_inactive(is_active, new_d, d), metrics

  shared, own = inputs[:shared_inputs], inputs[shared_inputs:]
  return jax.vmap(
      lambda g, d, key, own_inputs, member_values, is_active: one(
          g, d, key, shared + tuple(own_inputs), member_values, is_active)
  )(g_state, d_state, rng, own, values, active)
