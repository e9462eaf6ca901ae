"""numba's cache of the analysis kernels, set up so that it never stops the tool.

The kernels are ``@njit(cache=True)``: numba keeps their machine code beside the
source, in ``dopplerflow/core/__pycache__``, so a run after the first starts in
a second instead of compiling for some 20 s.  This module imports no kernel: the
command line asks :func:`cache_state` whether they are cached before it imports
the analysis (:mod:`dopplerflow._first_run`).  Left to itself, numba 0.68 lets
that cache break every command in three ways:

* A read-only install (system site-packages, a container image) with a home
  that cannot be written either: numba finds no folder and raises
  ``RuntimeError: cannot cache function ...: no locator available`` as the
  kernels are defined, on import.
* A damaged cache file (a ``.nbi`` index or ``.nbc`` data file cut short or
  overwritten): loading it raises (``UnpicklingError``, ``EOFError``, ...) on
  the first call of the kernel, in every later run too (numba issue #10434).
* A cache folder that stops being writable (a full disk): saving raises after
  the compilation.

And it stamps an entry with its own function's source file alone, although the
machine code holds the kernels that function calls from other files: after a change
to one of those, the old code would run.

:func:`configure_numba_cache` must run before the kernels are defined (it is
the first thing ``dopplerflow.core`` does).  It points numba at a user cache
folder when the package's own ``__pycache__`` cannot be written, and makes the
caches of dopplerflow's kernels (only theirs) treat a damaged entry as missing
(it is deleted and compiled again), a folder that cannot be written as no
cache at all (compiled on every run, said once on stderr), and an entry saved from
other kernel sources as stale.
"""

import functools
import os
import sys
import tempfile

__all__ = ["cache_state", "configure_numba_cache", "sources_digest", "user_cache_folder"]

#: The folder of the analysis kernels' modules.
CORE_FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "core")
#: The folder numba caches the kernels in when nothing says otherwise.
IN_TREE_FOLDER = os.path.join(CORE_FOLDER, "__pycache__")
#: Kernels whose cache entries stand for all of them: a stage early, one late and the
#: last (``module.function``, as numba names their index files).
_MARKERS = ("wall._wall_filter", "envelopes._envelopes_floor", "reflux._reflux")
_PACKAGE = __name__.split(".")[0]
_said = False


def user_cache_folder():
    """The per-user folder for the kernels' cache when the package's cannot be written.

    ``$XDG_CACHE_HOME/dopplerflow/numba`` if ``XDG_CACHE_HOME`` is an absolute
    path, else ``~/.cache/dopplerflow/numba``.
    """
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "dopplerflow", "numba")


def _writable(folder):
    """Whether ``folder`` exists or can be made, and takes a file (numba's own test)."""
    try:
        os.makedirs(folder, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return False
    return True


def configure_numba_cache():
    """Set up numba's cache for dopplerflow's kernels; call before they are defined.

    * If the user has not set ``NUMBA_CACHE_DIR`` and the package's
      ``__pycache__`` cannot be written, ``NUMBA_CACHE_DIR`` is set to
      :func:`user_cache_folder` when that can be written.  numba then caches
      every ``cache=True`` function of this process there (and of the child
      processes, which inherit the variable).
    * The caches of dopplerflow's kernels treat a damaged entry as a miss
      (its index is deleted; the kernel is compiled and saved again), and a
      folder that cannot be written as no cache: the kernels are compiled in
      every run, and one line on stderr says so when they first are.

    Calling it again does nothing more.
    """
    if not os.environ.get("NUMBA_CACHE_DIR") and not _writable(IN_TREE_FOLDER):
        folder = user_cache_folder()
        if _writable(folder):
            os.environ["NUMBA_CACHE_DIR"] = folder
            if "numba" in sys.modules:  # numba read its settings on import: again
                from numba.core import config

                config.reload_config()
    _install()


def cache_state():
    """Where numba keeps the kernels' cache and whether it holds them, without importing
    a kernel; call after :func:`configure_numba_cache`.

    Returns
    -------
    folder : str or None
        The folder numba writes the kernels of ``dopplerflow/core`` to (found as numba
        finds it), or None if it can write none.
    cached : bool
        Whether the folder holds index files of the marker kernels that numba would load:
        saved from these kernel sources (as :func:`dopplerflow.core._numba.kernels_cached`,
        which needs them imported).
    """
    import glob

    try:
        folder = _probe(os.path.join(CORE_FOLDER, "wall.py"))._cache_path
    except (RuntimeError, OSError):  # no locator available: no folder numba can write
        folder = None
    if folder is None:
        return None, False
    tag = f"py{sys.version_info[0]}{sys.version_info[1]}"
    digest = sources_digest()

    def kept(name):  # an index numba would load: stamped with these sources
        try:  # (numba's stamp of the marker's own file, as it makes it)
            own = _probe(os.path.join(CORE_FOLDER, name.split(".")[0] + ".py"))
            stamp = (own._impl.locator.get_source_stamp(), digest)
        except (RuntimeError, OSError):
            return False
        return any(_index_stamp(index) == stamp for index in
                   glob.glob(os.path.join(glob.escape(folder), f"{name}-*.{tag}*.nbi")))

    return folder, all(kept(name) for name in _MARKERS)


def _sources(folder):
    """The ``.py`` files under ``folder``, sorted."""
    return sorted(os.path.join(root, name) for root, _, names in os.walk(folder)
                  for name in names if name.endswith(".py") and "__pycache__" not in root)


@functools.cache
def sources_digest(folder=CORE_FOLDER):
    """A digest of the sources under ``folder`` (the kernels' by default: every ``.py``
    file, by its path within it and its bytes), worked out once a process."""
    import hashlib

    h = hashlib.blake2b(digest_size=16)
    for path in _sources(folder):
        h.update(os.path.relpath(path, folder).encode() + b"\0")
        with open(path, "rb") as f:
            h.update(f.read())
        h.update(b"\0")
    return h.hexdigest()


def _probe(source):
    """numba's cache of a function "of" ``source`` (numba finds a function's cache folder
    and stamp from its source file)."""
    from numba.core.caching import FunctionCache

    scope = {}
    exec(compile("def probe():\n    pass\n", source, "exec"), scope)  # noqa: S102
    return FunctionCache(scope["probe"])


def _index_stamp(path):
    """The source stamp a numba index file was saved with (None: not this numba's, or not
    readable)."""
    import pickle

    import numba

    try:
        with open(path, "rb") as f:
            if pickle.load(f) != numba.__version__:
                return None
            return pickle.loads(f.read())[0]
    except Exception:  # noqa: BLE001 - a damaged index (cut short, overwritten): no cache
        return None


def _say_uncached(reason):
    """One line on stderr, once a process: the kernels are compiled on every run."""
    global _said
    if not _said:
        _said = True
        print(f"dopplerflow: numba cannot keep the compiled analysis kernels ({reason}): "
              f"they are compiled again on every run (about 20 s); set NUMBA_CACHE_DIR to a "
              f"writable folder to keep them", file=sys.stderr, flush=True)


def _install():
    """Make numba give dopplerflow's ``cache=True`` kernels a cache that cannot fail.

    numba calls ``Dispatcher.enable_caching`` as ``@njit(cache=True)`` defines a
    function; for dopplerflow's functions (and only those) it now makes a
    :func:`_safe_cache` instead of numba's ``FunctionCache``, or an uncached
    stand-in when numba finds no folder it can write.
    """
    from numba.core import dispatcher

    if getattr(dispatcher.Dispatcher.enable_caching, "_dopplerflow", False):
        return
    numba_enable_caching = dispatcher.Dispatcher.enable_caching
    safe_cache, no_cache = _cache_classes()

    def enable_caching(self):
        if getattr(self.py_func, "__module__", "").split(".")[0] != _PACKAGE:
            return numba_enable_caching(self)
        try:
            self._cache = safe_cache(self.py_func)
        except (RuntimeError, OSError):  # numba's "no locator available": no writable folder
            self._cache = no_cache()

    enable_caching._dopplerflow = True
    dispatcher.Dispatcher.enable_caching = enable_caching


def _cache_classes():
    """numba's ``FunctionCache`` and ``NullCache``, made safe (see the module docstring)."""
    from numba.core.caching import FunctionCache, NullCache

    class SafeFunctionCache(FunctionCache):
        """numba's cache of one function: a damaged entry is a miss, a failed save no cache,
        and an entry saved from other kernel sources is stale.

        numba stamps an entry with its own function's source file alone, and a kernel's
        machine code holds the kernels it calls from other files: after a change to one of
        those (an upgrade that rewrites some files, a ``git pull`` under an editable
        install), the entry would still load, with the old code inside it.  The stamp
        here also holds :func:`sources_digest`, so a change to any kernel source makes
        every entry stale: all are compiled again, once."""

        def __init__(self, py_func):
            super().__init__(py_func)
            own = self._cache_file._source_stamp
            self._cache_file._source_stamp = (own, sources_digest())

        def load_overload(self, sig, target_context):
            try:
                return super().load_overload(sig, target_context)
            except Exception:  # noqa: BLE001 - unpickling, truncation, a foreign layout: a miss
                self._discard_index()
                return None

        def save_overload(self, sig, data):
            try:
                super().save_overload(sig, data)
            except Exception:  # noqa: BLE001 - the folder cannot be written (read-only, full)
                self._discard_index()
                self.disable()
                _say_uncached(f"its cache folder {self.cache_path} cannot be written")

        def flush(self):
            try:
                super().flush()
            except Exception:  # noqa: BLE001 - as save_overload
                self._discard_index()

        def _discard_index(self):
            # without its index, numba sees no entries: it compiles and writes a new index,
            # and the data files are overwritten as they are numbered again from 1
            try:
                os.remove(self._cache_file._index_path)
            except (AttributeError, OSError):
                pass

    class UncachedFunction(NullCache):
        """No cache: compiled in every process, which is said once, when first compiled."""

        def load_overload(self, sig, target_context):
            _say_uncached("no writable folder: not the package's __pycache__, "
                          "NUMBA_CACHE_DIR nor ~/.cache")
            return None

    return SafeFunctionCache, UncachedFunction
