"""``dopplerflow bench``: run the benchmark suite of a source checkout.

The suite (the top-level ``benchmarks`` folder of the repository) is not
installed with dopplerflow.  The command runs the suite of the checkout this
dopplerflow is imported from (the ``benchmarks`` folder beside the
``dopplerflow`` package), never another package of that name; without one it
says so in one line.
"""

import importlib
import importlib.util
import os
import sys

from ..errors import DopplerflowError

__all__ = ["add_arguments", "main", "load_suite", "suite_folder"]


def suite_folder():
    """Where the suite of this checkout would be: ``benchmarks`` beside the package."""
    package = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    return os.path.join(os.path.dirname(package), "benchmarks")


def load_suite():
    """The suite's command module (``benchmarks.__main__`` of this checkout), or None.

    None when there is no suite beside the package (an installed dopplerflow), or
    when a ``benchmarks`` package from elsewhere is already imported.
    """
    folder = suite_folder()
    if not os.path.isfile(os.path.join(folder, "__main__.py")):
        return None
    known = sys.modules.get("benchmarks")
    if known is None:
        spec = importlib.util.spec_from_file_location(
            "benchmarks", os.path.join(folder, "__init__.py"),
            submodule_search_locations=[folder])
        known = importlib.util.module_from_spec(spec)
        sys.modules["benchmarks"] = known
        try:
            spec.loader.exec_module(known)
        except BaseException:
            del sys.modules["benchmarks"]
            raise
    elif os.path.dirname(os.path.realpath(known.__file__ or "")) != folder:
        return None
    return importlib.import_module("benchmarks.__main__")


def add_arguments(parser):
    """The suite's own flags (``--quick``, ``--only`` ...), when the suite is here."""
    suite = load_suite()
    if suite is None:  # whatever the flags, main says where the suite is
        parser.set_defaults(suite=None, any_arguments=True)
        return
    suite.add_arguments(parser)
    parser.set_defaults(suite=suite)


def main(args):
    """Run the suite with the parsed flags; return its exit status."""
    if args.suite is None:
        raise DopplerflowError(
            f"dopplerflow bench runs the benchmark suite of a source checkout, and there is "
            f"none at {suite_folder()}; run 'python -m benchmarks' in a clone of the repository")
    return args.suite.main(args)
