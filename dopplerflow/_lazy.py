"""Packages whose names are imported when first used (PEP 562).

``dopplerflow``, ``dopplerflow.core`` and ``dopplerflow.live`` keep their imports light:
``import dopplerflow`` loads neither numpy nor numba, and the command line reads its flags
without defining a numba kernel (:mod:`dopplerflow._first_run`).
"""

import importlib

__all__ = ["lazy_names"]


def lazy_names(namespace, names, submodules=()):
    """A package's module ``__getattr__`` and ``__dir__`` (PEP 562).

    Parameters
    ----------
    namespace : dict
        The package's ``globals()``: a name, once imported, is kept there.
    names : dict
        Each name the package gives, and the module it is taken from (``".driver"``).
    submodules : iterable of str, or None
        The modules reachable as attributes before they are imported (None: any of the
        package's).

    Returns
    -------
    (__getattr__, __dir__)
    """
    package = namespace["__name__"]

    def __getattr__(name):
        if name in names:
            value = getattr(importlib.import_module(names[name], package), name)
        elif submodules is None or name in submodules:
            try:
                value = importlib.import_module(f".{name}", package)
            except ModuleNotFoundError as e:
                if e.name != f"{package}.{name}":
                    raise
                raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        namespace[name] = value
        return value

    def __dir__():
        return sorted(set(namespace) | set(namespace.get("__all__", ())) | set(submodules or ()))

    return __getattr__, __dir__
