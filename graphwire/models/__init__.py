"""Ready-made networks around wired cores, one module per family of models.

| module | factories |
|---|---|
| :mod:`~graphwire.models.classifiers` | ``WiredClassifier``, ``wired_mlp``, ``wired_conv1d``, ``wired_conv2d`` |
| :mod:`~graphwire.models.randwire_net` | ``randwire`` (the RandWire paper's small and regular regimes) |
| :mod:`~graphwire.models.darts_net` | ``darts_network`` (DARTS' evaluation networks from a genotype) |
| :mod:`~graphwire.models.mobilenet` | ``mobilenet_v1`` (any width) |
| :mod:`~graphwire.models.dnw` | ``dnw_mobilenet_v1``, ``dnw_tiny`` (DNW's channel graphs) |
| :mod:`~graphwire.models.ddw` | ``ddw_resnet`` |
| :mod:`~graphwire.models.darts` | ``darts_search_net`` |
| :mod:`~graphwire.models.depth` | ``LearntDepthNet`` |
"""

from . import classifiers, darts, darts_net, ddw, depth, dnw, mobilenet, randwire_net
from .classifiers import *  # noqa: F403
from .ddw import *  # noqa: F403
from .dnw import *  # noqa: F403
from .darts import *  # noqa: F403
from .darts_net import *  # noqa: F403
from .depth import *  # noqa: F403
from .mobilenet import *  # noqa: F403
from .randwire_net import *  # noqa: F403

__all__ = (classifiers.__all__ + dnw.__all__ + ddw.__all__ + darts.__all__ + depth.__all__ + darts_net.__all__
           + mobilenet.__all__ + randwire_net.__all__)
