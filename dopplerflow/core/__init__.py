"""The analysis core: settings, audio input, the stages and the incremental processor.

The other layers (live input, simulation and scoring, figures, the command line)
import what they need from here::

    from dopplerflow.core import Processor, Settings, analyze, feed, Gap

The names are imported when first used (PEP 562): the command line reads its flags
(``layouts``, ``vessels``, ``io``) without defining a numba kernel, and can choose how
the kernels run before they are defined (:mod:`dopplerflow._first_run`).
"""

import importlib

from .._cache import configure_numba_cache

configure_numba_cache()  # before numba first defines the kernels

#: The package's names, and the module each is taken from when first used.
_LAZY = {"Gap": ".driver", "analyze": ".driver", "feed": ".driver",
         "Processor": ".processor", "Analysis": ".result", "Trace": ".result",
         "Settings": ".settings"}

__all__ = ["Analysis", "Gap", "Processor", "Settings", "Trace", "analyze", "feed"]


def __getattr__(name):
    """The core's names and its modules (``dopplerflow.core.io``), imported on first use."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    else:
        try:
            value = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
