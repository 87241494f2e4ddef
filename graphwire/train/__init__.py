"""Training: :mod:`~graphwire.train.loop` (``fit``, ``evaluate``...), :mod:`~graphwire.train.darts`
(bilevel search) and :mod:`~graphwire.train.depth` (the exact-ELBO loop)."""

from . import darts, depth, loop
from .darts import arch_gradient, arch_parameters, bilevel_step, darts_optimizers, search, weight_parameters
from .depth import fit_elbo
from .groups import param_groups, wiring_parameters
from .loop import default_device, evaluate, fit, recalibrate_bn

__all__ = ["darts", "depth", "loop", "fit", "evaluate", "recalibrate_bn",
           "default_device", "arch_gradient", "arch_parameters", "bilevel_step", "darts_optimizers", "search",
           "weight_parameters", "fit_elbo", "param_groups", "wiring_parameters"]
