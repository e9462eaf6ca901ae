"""Many recordings in, one table or one examination out.

Modules (import them by name; none is loaded by ``import dopplerflow``):

``batch``
    :func:`~dopplerflow.study.batch.run_batch`: one row per recording, with a process
    pool or a Dask cluster, resumable.
``recsettings``
    Per-recording settings from a sidecar file or a settings table.
``table``
    The batch table's columns, and writing and reading it as CSV or Parquet.
``pool``
    Running one function over many tasks: in this process, in a process pool, or on
    a Dask cluster.
``files``
    Finding recordings, refusing outputs that would overwrite an input or each other,
    atomic writes, TOML.
``exam``, ``manifest``, ``ccsvi``, ``legmap``
    :func:`~dopplerflow.study.exam.run_exam`: an examination manifest in, Zamboni's
    five criteria, a leg reflux map and every recording's result out.
"""
