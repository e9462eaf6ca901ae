"""The analysis core: settings, audio input, the stages and the incremental processor.

The other layers (live input, simulation and scoring, figures, the command line)
import what they need from here::

    from dopplerflow.core import Processor, Settings, analyze, feed, Gap
"""

from ._cache import configure_numba_cache

configure_numba_cache()  # before numba first defines the kernels (imported by .driver)

from .driver import Gap, analyze, feed  # noqa: E402
from .processor import Processor  # noqa: E402
from .result import Analysis, Trace  # noqa: E402
from .settings import Settings  # noqa: E402

__all__ = ["Analysis", "Gap", "Processor", "Settings", "Trace", "analyze", "feed"]
