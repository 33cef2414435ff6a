"""Parallel work on Ray for the apps (``bench`` trials, ``dataset`` renders).

One pattern: ``--workers N`` actors, each building its expensive state once (IK, generator,
models) and then taking one job after another; a job's result depends on its arguments alone, so
the output is the serial run's whatever worker ran it. A local cluster is started for the command
(and shut down after it) unless ``--ray-address`` names a running one.

Workers never write into the output folder themselves: on a cluster of several machines that
folder is the driver's. They write into a scratch folder of their own and send the files back
(``take_files``), and the driver writes them (``put_files``).

Ray is imported only here, and only when ``--workers`` is above 1: the serial run does not need
it installed.
"""
from __future__ import annotations

import logging
import os
import shutil
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Sequence, Tuple

from ..errors import AffordanceGraspError, ClusterError

# Results are consumed as they arrive (at most one per worker waits), so a small store is plenty;
# Ray's default takes 30 % of the machine's memory, which the other jobs here need.
OBJECT_STORE_BYTES = 200 * 1024 ** 2
# Rendering needs the GL backend the driver was given (MUJOCO_GL=egl): a cluster's workers do
# not inherit the driver's environment.
FORWARDED_ENV = ("MUJOCO_GL",)
CONNECT_TIMEOUT_S = 5.0   # Ray itself retries an unreachable address for minutes before failing

ADDRESS_HELP = ("start one with `ray start --head` and pass the address it prints (HOST:PORT), pass `auto` "
                "for the cluster `ray start` left on this machine, or leave --ray-address out to run a local one")


def worker_setup() -> None:
    """In each worker, once: one torch thread, so N workers use N cores and not N x all of them."""
    import torch
    torch.set_num_threads(1)


@contextmanager
def ray_cluster(workers: int, address: Optional[str] = None) -> Iterator[Any]:
    """Ray, connected and with room for ``workers`` one-CPU actors: a local cluster of ``workers``
    CPUs started here, or the cluster at ``address``. Only a connection made here is shut down on
    exit (a caller that already runs Ray keeps it)."""
    import ray

    started = not ray.is_initialized()
    if started:
        _connect(ray, workers, address)
    try:
        _check_room(ray, workers, address)
        yield ray
    finally:
        if started:
            ray.shutdown()


def _connect(ray, workers: int, address: Optional[str]) -> None:
    # Nothing here may reach outside the machine or cluster (no network on CI and dev machines).
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
    common = dict(runtime_env={"env_vars": env}, log_to_driver=False, logging_level=logging.WARNING)
    if address is None:
        # "local", not None: None would join a cluster some other `ray start` left on this machine.
        ray.init(address="local", num_cpus=workers, object_store_memory=OBJECT_STORE_BYTES,
                 include_dashboard=False, **common)
        return
    _check_reachable(address)
    try:
        ray.init(address=address, **common)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise ClusterError(f"--ray-address {address}: cannot join the cluster ({e}); {ADDRESS_HELP}") from e


def _check_reachable(address: str) -> None:
    """Fail in seconds with what to do, where Ray would retry an unreachable address for minutes."""
    if address == "auto":
        return
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ClusterError(f"--ray-address {address!r} is not HOST:PORT; {ADDRESS_HELP}")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as e:
        raise ClusterError(f"--ray-address {address}: nothing answers there ({e}); {ADDRESS_HELP}") from e


def _check_room(ray, workers: int, address: Optional[str]) -> None:
    # Each worker holds one CPU for its whole life: with fewer CPUs, the extra workers would wait
    # forever with jobs queued on them.
    cpus = int(ray.cluster_resources().get("CPU", 0))
    if cpus < workers:
        raise ClusterError(f"the Ray cluster at {address or 'this machine'} has {cpus} CPUs and --workers {workers} "
                           f"needs one each: lower --workers or add nodes")


def run_on_workers(ray, worker_cls: type, init_args: Tuple, method: str, jobs: Sequence[Tuple],
                   workers: int) -> Iterator[Tuple[int, Any]]:
    """Yield ``(index, result)`` of ``worker.method(*jobs[index])`` as each result arrives.

    ``workers`` actors of ``worker_cls(*init_args)`` are made (no more than there are jobs); each
    is given its next job as soon as it returns one, so a slow job holds up no other worker."""
    pool = RayPool(ray, worker_cls, init_args, min(workers, len(jobs)))
    try:
        yield from pool.map(method, jobs)
    finally:
        pool.close()


def _stop(ray, actors: list, has_close: bool) -> None:
    """Let each actor clean up (its ``close()``, if it has one: scratch folders), then end it."""
    if actors and has_close:
        try:
            ray.get([a.close.remote() for a in actors], timeout=30)
        except Exception:   # a dead or stuck worker: its scratch folder is the only loss
            pass
    for actor in actors:
        ray.kill(actor)


def _get(ray, ref):
    """A job's result; a typed error the job raised is raised here as itself, as the serial run
    raises it (the command then prints its one-line message)."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as e:
        if isinstance(e.cause, AffordanceGraspError):
            raise e.cause from None
        raise
    except ray.exceptions.RayActorError as e:
        raise ClusterError(f"a worker process died: {e}") from e


def take_files(root: Path) -> Dict[str, bytes]:
    """Every file under ``root`` by its relative path, removed from ``root`` (a worker's scratch
    folder, emptied for its next job)."""
    files = {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    for child in root.iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    return files


def put_files(root: Path, files: Dict[str, bytes]) -> None:
    """Write the files ``take_files`` returned under ``root``."""
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


class LocalPool:
    """One worker in this process (``--workers 1``, no ``--ray-address``): the jobs run one after
    another, in order, and Ray is not imported."""

    def __init__(self, worker_cls: type, init_args: Tuple):
        self.worker = worker_cls(*init_args)

    def map(self, method: str, jobs: Sequence[Tuple]) -> Iterator[Tuple[int, Any]]:
        """``(index, worker.method(*jobs[index]))`` for each job, in order."""
        fn = getattr(self.worker, method)
        for index, job in enumerate(jobs):
            yield index, fn(*job)

    def close(self) -> None:
        if hasattr(self.worker, "close"):
            self.worker.close()


class RayPool:
    """``workers`` actors of ``worker_cls(*init_args)`` that live across many ``map`` calls (a
    training run asks them for work every step; starting actors each time would cost seconds)."""

    def __init__(self, ray, worker_cls: type, init_args: Tuple, workers: int):
        self.ray = ray
        self.has_close = hasattr(worker_cls, "close")
        remote_cls = ray.remote(num_cpus=1)(worker_cls)
        self.actors = [remote_cls.remote(*init_args) for _ in range(workers)]

    def map(self, method: str, jobs: Sequence[Tuple]) -> Iterator[Tuple[int, Any]]:
        """``(index, worker.method(*jobs[index]))`` as each result arrives; each actor is given its
        next job as soon as it returns one. A job's result must depend on its arguments alone."""
        queue = iter(enumerate(jobs))
        pending: Dict[Any, Tuple[int, Any]] = {}

        def give_next(actor) -> None:
            job = next(queue, None)
            if job is not None:
                pending[getattr(actor, method).remote(*job[1])] = (job[0], actor)

        for actor in self.actors:
            give_next(actor)
        # A job that raises ends the map; the pool's block then ends and close() stops the actors.
        while pending:
            (ref,), _ = self.ray.wait(list(pending), num_returns=1)
            index, actor = pending.pop(ref)
            result = _get(self.ray, ref)
            give_next(actor)
            yield index, result

    def close(self) -> None:
        _stop(self.ray, self.actors, self.has_close)
        self.actors = []


@contextmanager
def worker_pool(worker_cls: type, init_args: Tuple, workers: int = 1,
                address: Optional[str] = None) -> Iterator[Any]:
    """A pool with ``map(method, jobs)`` over ``worker_cls(*init_args)`` workers that stay up until
    the block ends: one in this process when ``workers`` is 1 and no ``address`` is given (no Ray),
    else ``workers`` Ray actors on a local cluster started here or on the cluster at ``address``."""
    if workers < 1:
        raise ClusterError(f"--workers must be at least 1, got {workers}")
    if workers == 1 and address is None:
        pool: Any = LocalPool(worker_cls, init_args)
        try:
            yield pool
        finally:
            pool.close()
        return
    with ray_cluster(workers, address) as ray:
        pool = RayPool(ray, worker_cls, init_args, workers)
        try:
            yield pool
        finally:
            pool.close()
