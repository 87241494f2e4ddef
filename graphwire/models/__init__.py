"""Ready-made networks around wired cores, one module per family of models."""

from . import classifiers, darts, ddw, depth, dnw
from .classifiers import *  # noqa: F403
from .ddw import *  # noqa: F403
from .dnw import *  # noqa: F403
from .darts import *  # noqa: F403
from .depth import *  # noqa: F403

__all__ = classifiers.__all__ + dnw.__all__ + ddw.__all__ + darts.__all__ + depth.__all__
