"""The platform's pretrained-weights cache, one per artifact store, readable by every training node:
``weights/<source>/<model>/model.safetensors`` and ``manifest.json`` (its SHA-256, size, where it came
from, when). Filled by hand (``visiontrain weights add``) or, where the platform may download, from
the model's own hub by the job's driver, once; every file is kept as safetensors, never a pickle.
Here too: what a job's workers start from (``resolve_weights`` on the driver, ``worker_weights`` on
each worker): the cache's file, an earlier job's best weights (``model.from_job``), or none."""
from __future__ import annotations

import os
import tempfile
import time
from typing import Optional

from train_jobs.config import TrainingConfig
from train_jobs.state import JobFolder
from train_jobs.store import ArtifactStore, StoreNotFound, file_sha256, open_store
from visiontrain.errors import VisiontrainError
from visiontrain.settings import settings as env_settings

__all__ = ["WeightsCache", "WeightsUnavailable", "how_to_add", "may_download", "resolve_weights", "worker_weights"]

FILE, MANIFEST = "model.safetensors", "manifest.json"
BEST = "weights/model.pt"  # a job's best weights, in its folder


class WeightsUnavailable(VisiontrainError, RuntimeError):
    """Pretrained weights asked for that the cache does not hold and may not fetch."""


def may_download() -> bool:
    """Whether this platform may fetch weights from the models' hubs (not ``VISIONTRAIN_OFFLINE`` nor
    ``HF_HUB_OFFLINE``)."""
    return not env_settings().offline and os.environ.get("HF_HUB_OFFLINE", "").lower() not in ("1", "true", "yes")


def how_to_add(source: str, name: str) -> str:
    return (f"an admin can add them with `visiontrain weights add FILE --model {source}/{name}`, or fetch them "
            f"on a machine that can download with `visiontrain weights pull {source}/{name}`")


class WeightsCache:
    def __init__(self, store: ArtifactStore):
        self.store = store

    @staticmethod
    def key(source: str, name: str, file: str = FILE) -> str:
        return f"weights/{source}/{name}/{file}"

    def find(self, source: str, name: str) -> Optional[dict]:
        """The manifest of the cached weights of ``source/name``, or None."""
        try:
            return self.store.read_json(self.key(source, name, MANIFEST))
        except StoreNotFound:
            return None

    def list(self) -> list[dict]:
        return [self.store.read_json(k) for k in self.store.list("weights/") if k.endswith("/" + MANIFEST)]

    def add(self, path: str, source: str, name: str, origin: str) -> dict:
        """Keep the weights of ``path`` (safetensors, a state dict, or a released checkpoint: read without
        unpickling code) for ``source/name``, as safetensors."""
        from safetensors.torch import save_file

        from adapters import get_adapter
        from adapters._weights import load_state_dict

        adapter = get_adapter(source)
        beside = adapter.cache_files(name)
        if beside:  # built from files kept with the weights (a Hub model outside the catalogue)
            adapter.check_files(name, os.path.dirname(path))
        else:
            adapter.check(name, adapter.model_tasks(name)[0])
        state = {k: v.contiguous() for k, v in load_state_dict(path).items()}
        with tempfile.TemporaryDirectory(prefix="vt-weights-") as d:
            local = os.path.join(d, FILE)
            save_file(state, local)
            manifest = {"source": source, "name": name, "file": FILE, "sha256": file_sha256(local),
                        "size": os.path.getsize(local), "tensors": len(state), "origin": origin, "added_at": time.time(),
                        "beside": {f: file_sha256(os.path.join(os.path.dirname(path), f)) for f in beside}}
            for f in beside:
                self.store.upload_file(self.key(source, name, f), os.path.join(os.path.dirname(path), f))
            self.store.upload_file(self.key(source, name), local)
        self.store.write_json(self.key(source, name, MANIFEST), manifest)  # last: the entry is complete
        return manifest

    def fetch(self, source: str, name: str) -> dict:
        """The cached weights of ``source/name``; fetched from the model's hub first when the cache has
        none and the platform may download."""
        found = self.find(source, name)
        if found is not None:
            return found
        if not may_download():
            raise WeightsUnavailable(f"no pretrained weights cached for {source}/{name}, and this platform does not "
                                     f"download (VISIONTRAIN_OFFLINE or HF_HUB_OFFLINE): {how_to_add(source, name)}; "
                                     "or set model.pretrained: false to train from scratch")
        from adapters import get_adapter

        with tempfile.TemporaryDirectory(prefix="vt-download-") as d:
            path, origin = get_adapter(source).download(name, d)
            return self.add(path, source, name, origin)

    def local_file(self, manifest: dict) -> str:
        """The cached file on this node (fetched from the store once per node, checked by its SHA-256),
        with the files kept beside it."""
        uri = self.store.child_uri(self.key(manifest["source"], manifest["name"]))
        if os.path.isfile(uri) and file_sha256(uri) == manifest["sha256"]:
            return uri  # a local store: read in place
        folder = os.path.join(tempfile.gettempdir(), "visiontrain-weights", manifest["sha256"])
        self.copy_beside(manifest, folder)
        return self._fetch(self.key(manifest["source"], manifest["name"]), manifest["sha256"], os.path.join(folder, FILE))

    def copy_beside(self, manifest: dict, folder: str) -> None:
        """The files kept beside the weights (``cache_files``), into ``folder``."""
        for f, sha256 in (manifest.get("beside") or {}).items():
            self._fetch(self.key(manifest["source"], manifest["name"], f), sha256, os.path.join(folder, f))

    def _fetch(self, key: str, sha256: str, path: str) -> str:
        if not (os.path.isfile(path) and file_sha256(path) == sha256):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            part = f"{path}.{os.getpid()}.part"
            self.store.download_file(key, part)
            if file_sha256(part) != sha256:
                os.remove(part)
                raise WeightsUnavailable(f"the cached {key} does not match its manifest; add the weights again")
            os.replace(part, path)
        return path


def _with_weights(cfg: TrainingConfig, ref: str) -> TrainingConfig:
    return cfg.model_copy(update={"model": cfg.model.model_copy(update={"weights": ref})})


def resolve_weights(cfg: TrainingConfig) -> tuple[TrainingConfig, Optional[dict]]:
    """On the job's driver: a model from an earlier job gets that job's best weights; a pretrained
    model without a weights file gets the cache's (fetched once here, never in each worker). Returns
    the config the workers get and what it starts from."""
    m = cfg.model
    if cfg.script is not None or m.weights:
        return cfg, None
    if m.from_job and m.continue_training:
        job = JobFolder(open_store(cfg.storage.uri), m.from_job)
        if not any(k.endswith("/manifest.json") for k in job.store.list(job.key("train/"))):
            raise WeightsUnavailable(f"job {m.from_job} left no checkpoint to continue from ({job.uri('train')}); "
                                     "fine-tune from its best weights instead (model.from_job without "
                                     "continue_training)")
        return cfg, {"from_job": m.from_job, "continue_training": True, "source": m.source, "name": m.name}
    if m.from_job:
        job = JobFolder(open_store(cfg.storage.uri), m.from_job)
        if not job.store.exists(job.key(BEST)):
            raise WeightsUnavailable(f"job {m.from_job} left no weights to start from ({job.uri(BEST)}); pick a "
                                     "succeeded job (GET /v1/jobs lists yours)")
        return _with_weights(cfg, f"job:{m.from_job}"), {"from_job": m.from_job, "source": m.source, "name": m.name}
    from adapters import get_adapter

    if not (m.pretrained or get_adapter(m.source).cache_files(m.name)):  # some models are only built from the hub's
        return cfg, None
    if cfg.search is not None and "model" in cfg.search.parameters:
        raise WeightsUnavailable("pretrained weights with a search over models is not supported yet: search one "
                                 "model at a time, or set model.pretrained: false")
    cache = WeightsCache(open_store(cfg.storage.uri))
    manifest = cache.fetch(m.source, m.name)
    return _with_weights(cfg, f"weights:{m.source}/{m.name}@{manifest['sha256']}"), manifest


def worker_weights(cfg: TrainingConfig) -> Optional[str]:
    """The local file a worker builds its model from: the cache's, for a ``weights:`` reference the
    driver set; else ``model.weights`` as given (an admin's file)."""
    ref = cfg.model.weights
    if ref and ref.startswith("job:"):
        job = JobFolder(open_store(cfg.storage.uri), ref[len("job:"):])
        path = os.path.join(tempfile.gettempdir(), "visiontrain-weights", f"{cfg.job_id}-from-{job.job_id}", "model.pt")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        job.store.download_file(job.key(BEST), path)
        cache = WeightsCache(job.store)
        if cache.find(cfg.model.source, cfg.model.name):  # what the model is built from, beside its weights
            cache.copy_beside(cache.find(cfg.model.source, cfg.model.name), os.path.dirname(path))
        return path
    if not ref or not ref.startswith("weights:"):
        return ref
    entry, _, sha256 = ref[len("weights:"):].rpartition("@")
    source, _, name = entry.partition("/")
    cache = WeightsCache(open_store(cfg.storage.uri))
    manifest = cache.find(source, name)
    if manifest is None or manifest["sha256"] != sha256:
        raise WeightsUnavailable(f"the cached weights of {entry} changed or went away while the job ran; "
                                 "submit it again")
    return cache.local_file(manifest)
