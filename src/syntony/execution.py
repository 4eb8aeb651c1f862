"""Where the embarrassingly parallel parts run: in this process, on local workers, or on Dask.

Sweeps, Monte Carlo FWE blocks, permutation batches, MACM regions, surrogate and pseudo-group
chunks are all lists of independent tasks whose numbers depend only on their own seed stream
(:class:`syntony._rng.SeedTree`). An executor runs a function over such a list and hands the
results back; the caller merges them by index, so the merged numbers are the same whichever
executor ran them, in whatever order the tasks finished.

- :class:`SerialExecutor`: one task after the other, in this process.
- :class:`LocalExecutor`: a pool of threads (compiled code that releases the GIL) or of worker
  processes on this machine.
- :class:`DaskExecutor`: a Dask ``distributed`` cluster, either an existing scheduler
  (``address``) or a ``LocalCluster`` of worker processes started here (``n_local_workers``),
  bound to 127.0.0.1. The data every task needs (``shared``: kernels, masks, studysets) is
  scattered once to every worker, not shipped with each task; a task lost with a worker that
  died is run again elsewhere, and since its numbers depend only on its seed stream the
  result does not change.

Every executor has ``map(fn, items, *, shared=None)`` (results in input order) and
``imap_unordered(fn, items, *, shared=None)`` (``(index, result)`` pairs as tasks finish, for
callers that write or checkpoint results as they come). ``fn`` must be a module-level function;
it is called as ``fn(item)`` or, with ``shared``, as ``fn(item, shared)``.

:func:`executor_from_options` turns the command-line options ``--scheduler ADDRESS`` (or the
``SYNTONY_SCHEDULER`` environment variable) and ``--dask-local N`` into an executor.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from syntony.errors import ParameterError

__all__ = [
    "SCHEDULER_ENV",
    "DaskExecutor",
    "Executor",
    "ExecutorStats",
    "LocalExecutor",
    "SerialExecutor",
    "execution_record",
    "executor_from_options",
    "run_tasks",
]

#: Environment variable naming a Dask scheduler address (``tcp://host:port``).
SCHEDULER_ENV = "SYNTONY_SCHEDULER"

_NO_SHARED = object()


@dataclass
class ExecutorStats:
    """What an executor has done so far (for benchmarks and reports).

    ``task_bytes`` counts the pickled size of each task's function and item (what travels
    with every task); ``shared_bytes`` the pickled size of the shared data, shipped once per
    worker (Dask, process pools) or not at all (serial, threads).
    """

    tasks: int = 0
    task_bytes: int = 0
    shared_bytes: int = 0
    shared_sends: int = 0
    batches: int = 0

    @property
    def bytes_per_task(self) -> float:
        """Bytes shipped per task: its own bytes plus its share of the shared data's copies."""
        if not self.tasks:
            return 0.0
        return (self.task_bytes + self.shared_bytes * self.shared_sends) / self.tasks


@runtime_checkable
class Executor(Protocol):
    """What the parallel parts of syntony need from an executor."""

    n_workers: int
    stats: ExecutorStats

    def map(
        self, fn: Callable[..., Any], items: Iterable[Any], *, shared: Any = _NO_SHARED
    ) -> list[Any]: ...

    def imap_unordered(
        self, fn: Callable[..., Any], items: Iterable[Any], *, shared: Any = _NO_SHARED
    ) -> Iterator[tuple[int, Any]]: ...

    def close(self) -> None: ...


class _Base:
    """Common parts: ``map`` from ``imap_unordered``, context manager, stats."""

    n_workers: int = 1
    name: str = "executor"

    def __init__(self) -> None:
        self.stats = ExecutorStats()

    def map(
        self, fn: Callable[..., Any], items: Iterable[Any], *, shared: Any = _NO_SHARED
    ) -> list[Any]:
        """``fn`` over ``items``; results in the order of ``items`` whatever order they finish."""
        items = list(items)
        out: list[Any] = [None] * len(items)
        for index, result in self.imap_unordered(fn, items, shared=shared):
            out[index] = result
        return out

    def imap_unordered(
        self, fn: Callable[..., Any], items: Iterable[Any], *, shared: Any = _NO_SHARED
    ) -> Iterator[tuple[int, Any]]:
        raise NotImplementedError

    def close(self) -> None:
        """Release workers (no-op for executors without any)."""

    def describe(self) -> dict[str, Any]:
        """A JSON-able record of where tasks ran (for provenance)."""
        return {"executor": self.name, "workers": self.n_workers}

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _count(self, fn: Callable[..., Any], items: Sequence[Any]) -> None:
        self.stats.tasks += len(items)
        self.stats.batches += 1
        if isinstance(self, DaskExecutor) or getattr(self, "kind", None) == "processes":
            self.stats.task_bytes += sum(len(_dumps((fn, item))) for item in items)


def _dumps(obj: Any) -> bytes:
    try:
        import cloudpickle

        return cloudpickle.dumps(obj)
    except ImportError:  # pragma: no cover - cloudpickle comes with distributed
        return pickle.dumps(obj)


def _call(fn: Callable[..., Any], item: Any, shared: Any) -> Any:
    return fn(item) if shared is _NO_SHARED else fn(item, shared)


class SerialExecutor(_Base):
    """Run tasks one after the other in this process (the reference for every other one)."""

    name = "serial"

    def imap_unordered(
        self, fn: Callable[..., Any], items: Iterable[Any], *, shared: Any = _NO_SHARED
    ) -> Iterator[tuple[int, Any]]:
        items = list(items)
        self._count(fn, items)
        for index, item in enumerate(items):
            yield index, _call(fn, item, shared)


# Shared data of a process pool, set once in each worker process by the pool's initializer.
_WORKER_SHARED: dict[int, Any] = {}


def _init_worker(token: int, payload: bytes) -> None:
    _WORKER_SHARED[token] = pickle.loads(payload)


def _call_in_worker(fn: Callable[..., Any], item: Any, token: int | None) -> Any:
    return fn(item) if token is None else fn(item, _WORKER_SHARED[token])


class LocalExecutor(_Base):
    """A pool of threads or worker processes on this machine.

    Parameters
    ----------
    n_workers : int, optional
        Workers (default: the machine's cores).
    kind : {"threads", "processes"}
        Threads suit compiled code that releases the GIL (the Monte Carlo loops); processes suit
        Python-heavy tasks (simulations). A process pool is started per ``map`` call with the
        shared data sent once to each of its workers.
    """

    name = "local"

    def __init__(self, n_workers: int | None = None, kind: str = "threads") -> None:
        super().__init__()
        n = (os.cpu_count() or 1) if n_workers is None else n_workers
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ParameterError("n_workers", "a positive integer", n_workers)
        if kind not in ("threads", "processes"):
            raise ParameterError("kind", "'threads' or 'processes'", kind)
        self.n_workers = n
        self.kind = kind

    def describe(self) -> dict[str, Any]:
        return {"executor": self.name, "workers": self.n_workers, "kind": self.kind}

    def imap_unordered(
        self, fn: Callable[..., Any], items: Iterable[Any], *, shared: Any = _NO_SHARED
    ) -> Iterator[tuple[int, Any]]:
        items = list(items)
        self._count(fn, items)
        if not items:
            return
        if self.kind == "threads":
            pool: Any = ThreadPoolExecutor(max_workers=self.n_workers)
            submit = lambda item: pool.submit(_call, fn, item, shared)  # noqa: E731
        else:
            token = None
            kwargs: dict[str, Any] = {}
            if shared is not _NO_SHARED:
                payload = pickle.dumps(shared, protocol=pickle.HIGHEST_PROTOCOL)
                token = id(payload)
                kwargs = {"initializer": _init_worker, "initargs": (token, payload)}
                self.stats.shared_bytes = len(payload)
                self.stats.shared_sends += min(self.n_workers, len(items))
            # Workers come from a fork server, not from this process: a process that has run
            # OpenMP-parallel code (the agent loop, the ALE kernels) cannot be forked safely.
            kwargs["mp_context"] = multiprocessing.get_context("forkserver")
            pool = ProcessPoolExecutor(max_workers=min(self.n_workers, len(items)), **kwargs)
            submit = lambda item: pool.submit(_call_in_worker, fn, item, token)  # noqa: E731
        try:
            futures: dict[Future, int] = {submit(item): k for k, item in enumerate(items)}
            pending = set(futures)
            while pending:
                finished, pending = wait_futures(pending, return_when=FIRST_COMPLETED)
                for future in sorted(finished, key=futures.__getitem__):
                    yield futures[future], future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor(_Base):
    """Tasks on a Dask ``distributed`` cluster.

    Parameters
    ----------
    address : str, optional
        Address of a running scheduler (``tcp://127.0.0.1:8786``).
    n_local_workers : int, optional
        Start a ``LocalCluster`` of this many worker processes (one thread each) bound to
        127.0.0.1, without a dashboard; it is closed with the executor.
    retries : int
        Times a task that raised is tried again. A task lost because its worker died is
        rescheduled by Dask itself (up to ``distributed.scheduler.allowed-failures`` times).
    client : distributed.Client, optional
        Use this client (not closed with the executor).

    Exactly one of ``address``, ``n_local_workers`` and ``client`` is given.
    """

    name = "dask"

    def __init__(
        self,
        address: str | None = None,
        *,
        n_local_workers: int | None = None,
        retries: int = 2,
        client: Any = None,
    ) -> None:
        super().__init__()
        given = sum(x is not None for x in (address, n_local_workers, client))
        if given != 1:
            raise ParameterError(
                "executor", "exactly one of a scheduler address, a local worker count or a client",
                {"address": address, "n_local_workers": n_local_workers},
            )  # fmt: skip
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ParameterError("retries", "a non-negative integer", retries)
        try:
            import distributed
        except ImportError:
            raise ParameterError(
                "executor", "the 'distributed' package (pip install 'dask[distributed]')", None
            ) from None
        self.retries = retries
        self._cluster = None
        self._own_client = client is None
        self.address = address
        if client is not None:
            self.client = client
        elif address is not None:
            try:
                self.client = distributed.Client(address, timeout="20s", set_as_default=False)
            except (OSError, TimeoutError) as error:
                raise ParameterError(
                    "scheduler", "the address of a running Dask scheduler", address
                ) from error
        else:
            if (
                isinstance(n_local_workers, bool)
                or not isinstance(n_local_workers, int)
                or (n_local_workers < 1)
            ):
                raise ParameterError("dask_local", "a positive number of workers", n_local_workers)
            self._cluster = distributed.LocalCluster(
                n_workers=n_local_workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                # The scheduler always serves its health routes over HTTP; without an address it
                # takes port 8787 on every interface. A free port on the loopback instead.
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                silence_logs=40,
            )
            self.client = distributed.Client(self._cluster, set_as_default=False)
            self.address = self._cluster.scheduler_address

    @property
    def n_workers(self) -> int:  # type: ignore[override]
        info = self.client.scheduler_info(n_workers=-1) if _takes_n_workers(self.client) else (
            self.client.scheduler_info()
        )  # fmt: skip
        return max(1, len(info.get("workers", {})))

    def describe(self) -> dict[str, Any]:
        return {
            "executor": self.name,
            "workers": self.n_workers,
            "local_cluster": self._cluster is not None,
        }

    def imap_unordered(
        self, fn: Callable[..., Any], items: Iterable[Any], *, shared: Any = _NO_SHARED
    ) -> Iterator[tuple[int, Any]]:
        import distributed

        items = list(items)
        self._count(fn, items)
        if not items:
            return
        shared_arg: Any = _NO_SHARED
        if shared is not _NO_SHARED:
            # Once to every worker (broadcast), then referred to by key in each task.
            shared_arg = self.client.scatter(shared, broadcast=True, hash=False)
            self.stats.shared_bytes = len(_dumps(shared))
            self.stats.shared_sends += self.n_workers
        # (The no-shared marker does not survive pickling: call without it.)
        args = () if shared_arg is _NO_SHARED else (shared_arg,)
        futures = [
            self.client.submit(fn, item, *args, pure=False, retries=self.retries) for item in items
        ]
        index = {f.key: k for k, f in enumerate(futures)}
        with self.client.as_current():  # as_completed looks for a default client
            completed = distributed.as_completed(futures)
        try:
            for future in completed:
                yield index[future.key], future.result()
        finally:
            self.client.cancel(futures)
            if shared_arg is not _NO_SHARED:
                self.client.cancel([shared_arg])

    def close(self) -> None:
        if self._own_client:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


def _takes_n_workers(client: Any) -> bool:
    import inspect

    return "n_workers" in inspect.signature(client.scheduler_info).parameters


def executor_from_options(
    scheduler: str | None = None,
    dask_local: int | None = None,
    *,
    n_jobs: int | None = None,
    kind: str = "threads",
    environ: dict[str, str] | None = None,
) -> _Base:
    """The executor the command-line options ask for.

    ``scheduler`` (else the ``SYNTONY_SCHEDULER`` environment variable) connects to a running
    Dask scheduler; ``dask_local`` starts a local Dask cluster of that many worker processes;
    otherwise tasks run on ``n_jobs`` local workers of ``kind`` (serially when ``n_jobs`` is 1).
    """
    env = os.environ if environ is None else environ
    scheduler = scheduler or env.get(SCHEDULER_ENV) or None
    if scheduler and dask_local:
        raise ParameterError("--scheduler/--dask-local", "one of them, not both", scheduler)
    if scheduler:
        return DaskExecutor(scheduler)
    if dask_local:
        return DaskExecutor(n_local_workers=int(dask_local))
    if n_jobs == 1:
        return SerialExecutor()
    return LocalExecutor(n_jobs, kind=kind)


def run_tasks(
    executor: Executor | None,
    fn: Callable[..., Any],
    items: Iterable[Any],
    *,
    shared: Any = _NO_SHARED,
) -> list[Any]:
    """``executor.map(fn, items, shared=shared)``, serially when ``executor`` is None."""
    return (executor or SerialExecutor()).map(fn, items, shared=shared)


def execution_record(executor: Any = None, n_threads: int | None = None) -> dict[str, Any]:
    """Where an analysis' parallel parts ran, for its provenance.

    The executor's own record (``describe()``) when one was given; otherwise ``n_threads`` local
    threads, or this process alone when that is None too.
    """
    if executor is not None:
        describe = getattr(executor, "describe", None)
        return dict(describe()) if callable(describe) else {"executor": type(executor).__name__}
    if n_threads is not None:
        return {"executor": "threads", "workers": int(n_threads)}
    return {"executor": "serial", "workers": 1}
