"""Training: :mod:`~graphwire.train.loop` (``fit``, ``evaluate``...), :mod:`~graphwire.train.darts`
(bilevel search) and :mod:`~graphwire.train.depth` (the exact-ELBO loop)."""

from . import darts, depth, loop
from .darts import arch_gradient, bilevel_step, darts_optimizers, search
from .depth import fit_elbo
from .groups import param_groups, weight_parameters, wiring_parameters
from .loop import RECIPES, SCHEDULES, default_device, evaluate, fit, load_checkpoint, recalibrate_bn

__all__ = ["darts", "depth", "loop", "fit", "evaluate", "recalibrate_bn", "default_device", "load_checkpoint",
           "RECIPES", "SCHEDULES", "param_groups", "wiring_parameters", "arch_gradient",
           "bilevel_step", "darts_optimizers", "search", "weight_parameters", "fit_elbo"]
