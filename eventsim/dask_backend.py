"""Dask execution of shard tasks (the optional ``dask`` extra: ``dask[distributed]``).

Only :func:`dask_client` and :func:`submit_all` import Dask, and only when a
scheduler is asked for.  Task arguments and results are small dicts of plain
values; the images are read and the shards written by the workers, so the
run folder (and any ``folder:``/``npy:`` data) must be visible to every
worker under the same path.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import sys

from .errors import InputError

_LOCAL = re.compile(r"^local(?::(\d+))?$")


def parse_scheduler(text: str):
    """``("local", W or None)`` or ``("address", "tcp://HOST:PORT")``.

    Raises
    ------
    InputError
        For anything else, naming the accepted forms.
    """
    m = _LOCAL.match(str(text))
    if m:
        workers = int(m.group(1)) if m.group(1) else None
        if workers is not None and workers < 1:
            raise InputError(f"--scheduler {text}: the number of workers must be >= 1")
        return "local", workers
    if re.match(r"^(tcp|tls|inproc|ucx|ws|wss)://[^\s]+$", str(text)):
        return "address", str(text)
    raise InputError(f"--scheduler: expected local, local:W or tcp://HOST:PORT, got {text!r}")


@contextlib.contextmanager
def dask_client(kind, arg, timeout=10.0):
    """Yield a connected ``distributed.Client``, or None for ``local`` when Dask is missing (with a notice).

    ``local[:W]`` starts a ``LocalCluster`` of ``W`` single-threaded worker
    processes (default: 1), each with ``NUMBA_NUM_THREADS = cores // W``.

    Raises
    ------
    InputError
        Dask missing for an address, or a scheduler that does not answer
        within ``timeout`` seconds.
    """
    try:
        from distributed import Client, LocalCluster
    except ModuleNotFoundError:
        if kind == "local":
            print("notice: Dask is not installed (pip install 'eventsim[dask]'); running in this process",
                  file=sys.stderr)
            yield None
            return
        raise InputError(f"--scheduler {arg} needs Dask: pip install 'eventsim[dask]'") from None
    if kind == "local":
        workers = arg or 1
        threads = numba_threads_per_worker(workers)
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                          silence_logs=logging.ERROR,
                          env={"NUMBA_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}) as cluster, \
                Client(cluster, set_as_default=False) as client:
            yield client
        return
    try:
        client = Client(arg, timeout=f"{float(timeout)}s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise InputError(f"--scheduler {arg}: no Dask scheduler answered within {timeout:g} s ({exc}); "
                         "start one with 'dask scheduler' (see docs/scaling.md)") from None
    with client:
        yield client


def submit_all(client, func, jobs, retries):
    """Submit ``func(job)`` for every job and yield the results as they finish.

    A task whose worker dies is rescheduled by Dask; one that raises is
    retried ``retries`` times, then its error is raised here and the
    remaining tasks are cancelled.
    """
    from distributed import as_completed

    futures = [client.submit(func, job, key=f"eventsim-{job['run_id']}-{job['shard']:05d}", retries=retries,
                             pure=False) for job in jobs]
    try:
        for fut in as_completed(futures, loop=client.loop):
            yield fut.result()
    finally:
        client.cancel([f for f in futures if not f.done()])


def numba_threads_per_worker(workers: int) -> int:
    """Numba threads for each of ``workers`` worker processes sharing this machine's cores."""
    return max(1, (os.cpu_count() or 1) // max(1, int(workers)))
