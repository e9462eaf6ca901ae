"""The analysis core: settings, audio input, the stages and the incremental processor.

The other layers (live input, simulation and scoring, figures, the command line)
import what they need from here::

    from dopplerflow.core import Processor, Settings, analyze, feed, Gap

The names are imported when first used (PEP 562): the command line reads its flags
(``layouts``, ``vessels``, ``io``) without defining a numba kernel, and can choose how
the kernels run before they are defined (:mod:`dopplerflow._first_run`).
"""

from .._cache import configure_numba_cache
from .._lazy import lazy_names

configure_numba_cache()  # before numba first defines the kernels

#: The package's names, and the module each is taken from when first used.
_LAZY = {"Gap": ".driver", "analyze": ".driver", "feed": ".driver",
         "Processor": ".processor", "Analysis": ".result", "Trace": ".result",
         "Settings": ".settings"}

__all__ = ["Analysis", "Gap", "Processor", "Settings", "Trace", "analyze", "feed"]


#: Any module of the core is reachable as an attribute (``dopplerflow.core.io``).
__getattr__, __dir__ = lazy_names(globals(), _LAZY, submodules=None)
