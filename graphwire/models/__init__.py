"""Ready-made networks around wired cores, one module per family of models."""

from . import classifiers, ddw, dnw, search
from .classifiers import *  # noqa: F401,F403
from .ddw import *  # noqa: F401,F403
from .dnw import *  # noqa: F401,F403
from .search import *  # noqa: F401,F403

__all__ = classifiers.__all__ + dnw.__all__ + ddw.__all__ + search.__all__
