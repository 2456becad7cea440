"""How a training worker feeds its model, written once for every PyTorch task.

- Loader processes decode beside the training step, sized from the worker's CPUs (``loader_workers``);
  each keeps running across epochs and works ahead.
- Decoded images are kept once per training worker in memory that every loader process shares
  (``DecodedCache``), so a second epoch decodes nothing and N processes do not hold N copies.
- On a GPU, batches come in pinned memory and are copied without blocking (``WorkerSession.to_device``);
  augmentation runs on uint8 tensors in the loader processes.
"""
from __future__ import annotations

import os
import tempfile
from typing import Optional

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from train_jobs.config import TrainingConfig
from visiontrain.messages import said

__all__ = ["CACHE_LIMIT_BYTES", "DecodedCache", "compute_threads", "data_loader", "input_event", "keeps_decoded",
           "loader_workers"]

CACHE_LIMIT_BYTES = 2 << 30  # decoded bytes a dataset may keep per training worker
PREFETCH_BATCHES = 4  # per loader process


def loader_workers(cfg: TrainingConfig, cpus: Optional[float] = None) -> int:
    """Loader processes for a training process with ``cpus`` CPUs (by default a Ray Train worker's,
    ``resources.cpus_per_worker``): ``resources.loader_workers`` when set, else from those CPUs.
    On a GPU all CPUs but the training thread's decode; on CPUs the training step needs the cores, so
    one loader process for every four CPUs (none below four: decoding there costs more than it hides,
    measured by bench/train_overhead.py on 2 cores)."""
    r = cfg.resources
    if r.loader_workers is not None:
        return r.loader_workers
    cpus = max(1, int(r.cpus_per_worker if cpus is None else cpus))
    return cpus - 1 if r.use_gpu else cpus // 4


def compute_threads(cfg: TrainingConfig, cpus: Optional[float] = None) -> int:
    """Threads for the training step's own operators: the CPUs the loader processes leave."""
    cpus = cfg.resources.cpus_per_worker if cpus is None else cpus
    return max(1, int(cpus) - loader_workers(cfg, cpus))


def data_loader(cfg: TrainingConfig, ds: Dataset, batch_size: int, train: bool = False) -> DataLoader:
    """A Ray Train worker's DataLoader for its share of ``ds`` by the rule above, batches moved to its
    device: training shuffles (by epoch: ``sampler.set_epoch``) and drops a last partial batch. The
    sampler is set here: Ray's own would rebuild the loader without its persistent processes."""
    import ray.train
    import ray.train.torch
    from torch.utils.data.distributed import DistributedSampler

    ctx, workers = ray.train.get_context(), loader_workers(cfg)
    sampler = None
    if ctx.get_world_size() > 1:
        sampler = DistributedSampler(ds, num_replicas=ctx.get_world_size(), rank=ctx.get_world_rank(), shuffle=train,
                                     seed=cfg.hyperparameters.seed)
    loader = DataLoader(ds, batch_size=batch_size, shuffle=train and sampler is None, sampler=sampler,
                        drop_last=train and len(ds) > batch_size, num_workers=workers, persistent_workers=workers > 0,
                        pin_memory=cfg.resources.use_gpu, prefetch_factor=PREFETCH_BATCHES if workers else None)
    return ray.train.torch.prepare_data_loader(loader, add_dist_sampler=False)


def input_event(cfg: TrainingConfig, workers: int, kept: bool) -> dict:
    """How a job is fed, for its ``input`` event: ``workers`` loader processes, this process's compute
    threads, where images are decoded, whether decoded images are ``kept`` (see ``keeps_decoded``),
    pinned memory and compile."""
    facts = {"loader_workers": workers, "compute_threads": torch.get_num_threads(), "decode": "cpu",
             "decoded_kept": kept, "pinned_memory": cfg.resources.use_gpu, "compile": cfg.hyperparameters.compile}
    return {**facts, **said("job.input" if kept else "job.input_each_epoch", workers=workers,
                            threads=facts["compute_threads"])}


def keeps_decoded(ds: Dataset) -> bool:
    """Whether ``ds`` keeps every decoded array it reads (its caches all fit)."""
    caches = [c for c in vars(ds).values() if isinstance(c, DecodedCache)]
    return bool(caches) and all(c.kept for c in caches)


class DecodedCache:
    """``n`` decoded arrays of one shape and dtype in shared memory that the loader processes forked
    from this one write and read; a slot is valid once its flag is set, and ``get`` returns None before.
    The memory is a file in the temp folder, removed as soon as it is mapped: nothing is left behind,
    whatever ends the job, and the pages go when the last process holding them does. Keeps nothing when
    too big (over ``CACHE_LIMIT_BYTES``), and in a process that was not forked from its maker."""

    def __init__(self, n: int, shape: tuple, dtype=np.uint8):
        self.n, self.shape, self.dtype = n, tuple(shape), np.dtype(dtype)
        size = n * int(np.prod(self.shape)) * self.dtype.itemsize
        self._maps: Optional[tuple] = None
        if 0 < size <= CACHE_LIMIT_BYTES:
            fd, path = tempfile.mkstemp(prefix="visiontrain-decoded-", suffix=".bin")
            try:
                os.ftruncate(fd, size + n)  # sparse: pages are taken as images are decoded
                data = np.memmap(path, self.dtype, "r+", shape=(n, *self.shape))
                self._maps = (data, np.memmap(path, np.uint8, "r+", offset=size, shape=(n,)))
            finally:
                os.close(fd)
                os.remove(path)
        self.kept = self._maps is not None

    def __getstate__(self) -> dict:  # a spawned process decodes for itself
        return {**self.__dict__, "_maps": None}

    def get(self, i: int) -> Optional[torch.Tensor]:
        if self._maps is None or not self._maps[1][i]:
            return None
        return torch.from_numpy(np.array(self._maps[0][i]))

    def put(self, i: int, value: torch.Tensor) -> torch.Tensor:
        if self._maps is not None:
            self._maps[0][i] = value.numpy()
            self._maps[1][i] = 1
        return value
