"""A job's lifecycle as kept in its folder: ``state.json`` (now) and ``events.jsonl`` (history)."""
from __future__ import annotations

import json
import time
from typing import Any, Optional

from train_jobs.config import TRIAL
from train_jobs.store import ArtifactStore

__all__ = ["STATES", "TERMINAL", "JobFolder"]

STATES = (
    "pending", "validating", "preparing", "training", "evaluating", "exporting",
    "succeeded", "failed", "stopped",
)
TERMINAL = ("succeeded", "failed", "stopped")


class JobFolder:
    """Keys of one job's folder in the artifact store, and its state/event writers."""

    def __init__(self, store: ArtifactStore, job_id: str):
        self.store, self.job_id = store, job_id
        parent, _, trial = job_id.partition(TRIAL)
        self.prefix = f"jobs/{parent}/trials/{trial}" if trial else f"jobs/{job_id}"

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    def uri(self, name: str = "") -> str:
        return self.store.child_uri(self.key(name) if name else self.prefix)

    def pyarrow_location(self, name: str = "") -> tuple[Any, str]:
        """``(filesystem, path)`` as Ray Train and Tune take their storage: a pyarrow filesystem and
        a path in it for S3, or None and a local path."""
        fs, uri = self.store.pyarrow_filesystem(), self.uri(name)
        return fs, uri.removeprefix("s3://") if fs is not None else uri

    def state(self) -> Optional[dict]:
        key = self.key("state.json")
        return self.store.read_json(key) if self.store.exists(key) else None

    def events(self, cursor: Optional[dict] = None) -> list[dict]:
        """The job's events; with a ``cursor`` dict, those written since the last call with it."""
        return self.store.read_jsonl(self.key("events.jsonl"), cursor)

    def event(self, kind: str, **fields: Any) -> dict:
        ev = {"time": time.time(), "kind": kind, **fields}
        self.store.append_line(self.key("events.jsonl"), json.dumps(ev, ensure_ascii=False, default=str))
        return ev

    def history(self) -> list[dict]:
        """The metrics of each epoch in order (an epoch run again after a resume: its last run)."""
        by_epoch = {e["epoch"]: e for e in self.events() if e["kind"] == "metrics"}
        return [by_epoch[k] for k in sorted(by_epoch)]

    def telemetry(self) -> list[dict]:
        """What the monitors sent, all ranks, in time order."""
        keys = self.store.logs(self.key("telemetry/"))
        return sorted((e for k in keys for e in self.store.read_jsonl(k)), key=lambda e: e["time"])

    def workers(self) -> list[dict]:
        """Each training worker's latest status as its monitor wrote it (heartbeat, step, stalled)."""
        keys = [k for k in self.store.list(self.key("monitor/")) if k.rsplit("/", 1)[-1].startswith("rank-")]
        return sorted((self.store.read_json(k) for k in keys), key=lambda w: w["rank"])

    def request_stop(self, reason: str) -> None:
        self.store.write_json(self.key("monitor/stop.json"), {"time": time.time(), "reason": reason})
        self.event("stop_requested", reason=reason)

    def clear_stop_request(self) -> None:
        self.store.delete(self.key("monitor/stop.json"))

    def stop_request(self) -> Optional[dict]:
        key = self.key("monitor/stop.json")
        return self.store.read_json(key) if self.store.exists(key) else None

    def transition(self, state: str, message: str = "", text: Optional[dict] = None, **extra: Any) -> dict:
        """``text``: the message's catalogue key and values (``visiontrain.messages.said``), kept
        beside it so that readers can say it in their language."""
        if state not in STATES:
            raise ValueError(f"unknown job state {state!r}; one of {STATES}")
        now = time.time()
        said = {"message": message, **({"text": text} if text else {})}
        current = self.state() or {"job_id": self.job_id, "history": [], "attempt": 0}
        current["history"].append({"state": state, "time": now, **said})
        current.pop("text", None)
        current.update(state=state, updated_at=now, **said, **extra)
        self.store.write_json(self.key("state.json"), current)
        self.event("state", state=state, **said)
        return current
