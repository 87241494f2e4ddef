"""Graph transforms: what turns a learned graph into the next one. Plain functions on
``nx.DiGraph``s that never mutate their input: :func:`prune`, :func:`share`,
:func:`remove_dead_nodes` (:mod:`~graphwire.transforms.pruning`) and :func:`derive`
(:mod:`~graphwire.transforms.derivation`, DARTS' discrete cell)."""

from .derivation import derive
from .pruning import prune, remove_dead_nodes, share

__all__ = ["prune", "share", "remove_dead_nodes", "derive"]
