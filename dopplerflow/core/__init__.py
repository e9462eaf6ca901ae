"""The analysis core: settings, audio input, the stages and the incremental processor.

The other layers (live input, simulation and scoring, figures, the command line)
import what they need from here::

    from dopplerflow.core import Processor, Settings, analyze, feed, Gap
"""

from .driver import Gap, analyze, feed
from .processor import Processor
from .result import Analysis, Trace
from .settings import Settings

__all__ = ["Analysis", "Gap", "Processor", "Settings", "Trace", "analyze", "feed"]
