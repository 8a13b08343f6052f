"""The Ray Data engine shared by `cbqa ner --engine ray` and `cbqa index --engine ray`.

The driver plans shards; Ray Data maps the pending shard descriptors (one dict per shard) over a pool of actors
(`map_batches`, one descriptor per call). Each actor loads its model once, reads its shard from shared storage, writes
its output file(s) itself, atomically, and returns a small dict of counts to the driver, which writes the manifest.
Which process handles which shard does not change what a shard holds, so both engines produce the same files.
Ray is an optional dependency (`pip install 'cbqa[ray]'`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from typing import Any

from cbqa.core.errors import CbqaError


def start_ray(address: str | None, num_cpus: int) -> Any:
    """Join the cluster at `address`, or start a local Ray with `num_cpus` CPUs; quiet, no dashboard."""
    try:
        import ray
    except ImportError:
        raise CbqaError("--engine ray needs Ray Data: pip install 'ray[data]'") from None
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"address": address} if address else {"num_cpus": num_cpus}
        if not address:
            # Ray runs its workers at nice 15; the actors are this command's whole work, and beside any other busy
            # process on the machine they then get a few percent of a core (measured with 2 busy processes on 2 cores:
            # 60 documents took 129 s instead of 11 s, most of it the actors' start). A user's own value is kept.
            os.environ.setdefault("RAY_worker_niceness", "0")
        try:
            ray.init(
                **kwargs,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.WARNING,
                configure_logging=True,
            )
        except (ConnectionError, ValueError, RuntimeError) as e:
            raise CbqaError(f"cannot start or join Ray ({address or 'local'}): {str(e).splitlines()[0]}") from None
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # the caller shows one bar for the whole run
    return ray


def cluster_gpus(ray: Any) -> int:
    """GPUs the Ray cluster offers (0 on a CPU-only machine)."""
    return int(ray.cluster_resources().get("GPU", 0))


def map_shards(
    ray: Any,
    actor: type,
    shards: Sequence[dict[str, Any]],
    constructor_kwargs: dict[str, Any],
    concurrency: int,
    num_cpus: float = 1,
    num_gpus: float = 0,
) -> Iterator[dict[str, Any]]:
    """Run `actor(**constructor_kwargs)` on `concurrency` workers over the shard descriptors, one per call; yields
    each call's output row as it finishes (in no particular order)."""
    if not shards:
        return
    ds = ray.data.from_items(list(shards), override_num_blocks=len(shards))
    resources: dict[str, Any] = {"num_cpus": num_cpus}
    if num_gpus:
        resources["num_gpus"] = num_gpus
    results = ds.map_batches(
        actor,
        fn_constructor_kwargs=constructor_kwargs,
        batch_size=1,
        concurrency=max(1, min(concurrency, len(shards))),
        **resources,
    )
    yield from results.iter_rows()
