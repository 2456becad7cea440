"""The job service: submits training configs as Ray Jobs and keeps the records up to date.

The entrypoint is always the fixed template ``python -m train_jobs.run --config <uri>``, where
the URI is the config this service stored in the job's folder, never text a user wrote.
"""
from __future__ import annotations

import os
import shlex
import time
from functools import cached_property
from typing import Optional

import adapters
import train_jobs
from serve_app.services.records import Records
from train_jobs.config import TrainingConfig, config_from_yaml
from train_jobs.state import TERMINAL, JobFolder
from train_jobs.store import StoreNotFound, open_store
from visiontrain.errors import VisiontrainError
from visiontrain.messages import said
from visiontrain.settings import settings as env_settings

__all__ = ["JobService", "JobNotFound", "runtime_env"]

ENTRYPOINT = "python -m train_jobs.run --config {config_uri}"
QUEUED = said("job.queued")
STOPPED_EARLY = said("job.stopped_early")
CLAIMED = "submitting to Ray"  # a record saying so: an attempt was claimed, and Ray may have taken it
QUEUE_GRACE_S = 120.0  # a job queued this long and never submitted (its replica died) is submitted by reconcile()
_RAY_TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}
ENDED_KEPT = 10_000  # ended jobs' records answered from memory


def submission_id(job_id: str, attempt: int) -> str:
    """Ray's submission id for one attempt of a job: the same attempt can never run twice."""
    return f"vt-{job_id}-{attempt}"


def runtime_env() -> dict:
    """What a job's driver and its workers import: the platform's own training code, shipped with the job."""
    return {"py_modules": [os.path.dirname(m.__file__) for m in (train_jobs, adapters)]}


def _unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the dashboard (Jobs API) did not answer, as opposed to refusing the job."""
    import requests

    return isinstance(exc, (ConnectionError, requests.exceptions.ConnectionError, requests.exceptions.Timeout)) \
        or "Failed to connect to Ray" in str(exc) or "Connection refused" in str(exc)


class JobNotFound(VisiontrainError, KeyError):
    def __str__(self) -> str:
        return f"no job {self.args[0]!r}"


class JobService:
    def __init__(self, records: Records, ray_dashboard_url: str, queue_grace_s: float = QUEUE_GRACE_S,
                 unreachable_wait_s: float = 60.0):
        self.records, self.queue_grace_s, self.unreachable_wait_s = records, queue_grace_s, unreachable_wait_s
        self.ray_dashboard_url = ray_dashboard_url
        self._ended: dict[str, dict] = {}  # job id -> the record of its ended attempt (an end is final)

    @cached_property
    def client(self):
        """Connected on first use, so the API starts even while the training cluster's head does not
        answer yet (on Kubernetes they start side by side); a failed connection is retried next time.
        ``VISIONTRAIN_TRAINING_RAY_TOKEN`` is the training cluster's Ray token when it is not this
        process's own cluster (KubeRay: the API and the training cluster hold different tokens)."""
        from ray.job_submission import JobSubmissionClient

        token = env_settings().training_ray_token
        return JobSubmissionClient(self.ray_dashboard_url, headers={"authorization": f"Bearer {token}"} if token else None)

    @staticmethod
    def storage_of(job: dict) -> str:
        """The artifact store a job's folder is in."""
        return job["folder_uri"].rsplit("/jobs/", 1)[0]

    def folder(self, job: dict) -> JobFolder:
        return JobFolder(open_store(self.storage_of(job)), job["job_id"])

    def stored_config(self, job: dict) -> TrainingConfig:
        folder = self.folder(job)
        return config_from_yaml(folder.store.read_text(folder.key("config.yaml")), source=job["config_uri"])

    def using_dataset(self, dataset_id: str) -> list[str]:
        """The jobs, of any owner, that have not ended and train on ``dataset_id``."""
        using = []
        for record in self.records.list_jobs():
            if record["state"] not in TERMINAL:
                try:
                    cfg = self.stored_config(record)
                except StoreNotFound:  # a job whose folder is gone reads nothing
                    continue
                if cfg.dataset.uri == dataset_id:
                    using.append(record["job_id"])
        return using

    def submit(self, cfg: TrainingConfig, queue: bool = False) -> dict:
        """Store the config, record the job, submit it. Submitting an existing job id resumes it.
        ``queue``: return once the job is recorded (state pending, no Ray job yet); :meth:`launch`
        submits it to Ray, called in the background by the API (or by :meth:`reconcile`)."""
        job = JobFolder(open_store(cfg.storage.uri), cfg.job_id)
        record = self.check_resumable(job, self.records.get_job(cfg.job_id))
        job.store.write_text(job.key("config.yaml"), cfg.to_yaml())
        if record is None:
            record = self.records.add_job(
                job_id=cfg.job_id, owner=cfg.owner, task=cfg.task, model=f"{cfg.model.source}/{cfg.model.name}",
                config_uri=job.uri("config.yaml"), folder_uri=job.uri(),
            )
        record = self.records.update_job(cfg.job_id, ray_job_id=None, state="pending", message=QUEUED["message"])
        job.transition("pending", **QUEUED)
        return record if queue else self.launch(cfg.job_id)

    @staticmethod
    def check_resumable(job: JobFolder, record: Optional[dict]) -> Optional[dict]:
        """Raise ValueError when the job ``record`` runs already or succeeded: it cannot be submitted again."""
        if record and record["state"] not in TERMINAL and record["submissions"] > 0:
            raise ValueError(f"job {job.job_id} is already {record['state']}; stop it before submitting it again")
        if (job.state() or {}).get("state") == "succeeded":
            raise ValueError(f"job {job.job_id} already succeeded; there is nothing to resume. To train it further, "
                             "start a job that continues it (model.from_job with model.continue_training, or say "
                             "'5 more epochs' in the chat)")
        return record

    def launch(self, job_id: str) -> dict:
        """Submit a queued job to Ray, once across processes (the first to claim it does). A job whose
        last claimed attempt Ray has already taken (the process that submitted it died before recording
        its Ray id) is adopted, not launched twice."""
        record = self.records.get_job(job_id)
        n = record["submissions"]
        claimed = record["message"].startswith(CLAIMED)  # attempt n was being submitted, not queued anew
        if claimed and n > 0 and (taken := self._ray_job(submission_id(job_id, n))) is not None:
            self.records.update_job_if(job_id, {"state": "pending", "ray_job_id": None, "submissions": n},
                                       ray_job_id=taken, message=f"submitted as Ray job {taken}")
            return self.get(job_id)
        if not self.records.update_job_if(job_id, {"state": "pending", "ray_job_id": None, "submissions": n},
                                          submissions=n + 1, message=CLAIMED):
            return self.get(job_id)
        job, cfg = self.folder(record), self.stored_config(record)
        return self._launch(cfg, job, n + 1, said("job.submitting", workers=cfg.resources.num_workers))

    def _launch(self, cfg: TrainingConfig, job: JobFolder, attempt: int, why: dict) -> dict:
        """``why``: the pending state's message (``said(...)``, or ``{"message": ...}``)."""
        r = cfg.resources
        job.transition("pending", **why)  # this attempt, not the last's end
        try:
            ray_job_id = self.submit_to_ray(
                entrypoint=ENTRYPOINT.format(config_uri=shlex.quote(job.uri("config.yaml"))),
                submission_id=submission_id(cfg.job_id, attempt),
                runtime_env=runtime_env(),
                metadata={"visiontrain_job_id": cfg.job_id, "owner": cfg.owner},
                entrypoint_num_cpus=0,
            )
        except Exception as exc:
            if _unreachable(exc):  # the dashboard is briefly away: the job stays queued, tried again later
                waiting = f"{CLAIMED}: the training cluster did not answer ({str(exc)[:200]}); it is tried again soon"
                self.records.update_job_if(cfg.job_id, {"state": "pending", "ray_job_id": None}, message=waiting)
                job.transition("pending", waiting)
                raise
            job.transition("failed", f"Ray did not take the job: {exc}")
            self.records.update_job(cfg.job_id, state="failed", message=f"Ray did not take the job: {exc}")
            raise
        if not self.records.update_job_if(cfg.job_id, {"state": "pending"}, ray_job_id=ray_job_id, submissions=attempt,
                                          message=f"submitted as Ray job {ray_job_id} ({r.num_workers} workers)"):
            self.client.stop_job(ray_job_id)  # stopped while it was being submitted
        return self.records.get_job(cfg.job_id)

    def wait_started(self, job_id: str, timeout_s: float, poll_s: float = 0.25) -> None:
        """Return once the job's driver runs (its state left ``pending``), it ended, or ``timeout_s``."""
        record, deadline = self.records.get_job(job_id), time.time() + timeout_s
        while record is not None and record["state"] == "pending" and record["ray_job_id"] and time.time() < deadline:
            if (self.folder(record).state() or {}).get("state", "pending") != "pending":
                return
            time.sleep(poll_s)
            record = self.records.get_job(job_id)

    def submit_to_ray(self, **job) -> str:
        """Submit, waiting out a cluster that is still starting (its job agent not registered yet) or a
        dashboard that does not answer for a moment. Ray refuses a submission id it has seen: a retry
        after an answer that got lost finds the job it already took."""
        deadline = time.time() + self.unreachable_wait_s
        while True:
            try:
                return self.client.submit_job(**job)
            except Exception as exc:  # noqa: BLE001 - what is retried is decided below
                if "already exists" in str(exc) and self._ray_job(job["submission_id"]) is not None:
                    return job["submission_id"]
                if not ("No available agent" in str(exc) or _unreachable(exc)) or time.time() > deadline:
                    raise
                self.__dict__.pop("client", None)  # connect anew
                time.sleep(2)

    def _ray_job(self, submission: str) -> Optional[str]:
        """The id of Ray's job with this submission id, or None when Ray has none."""
        try:
            return self.client.get_job_info(submission).submission_id
        except RuntimeError as exc:
            if "status code 404" in str(exc) or "does not exist" in str(exc):
                return None
            raise

    def ended(self, job_id: str) -> Optional[dict]:
        """The job's record if it has ended and this service has seen the end (from memory: one
        database read checks it is still current, not submitted again); else None."""
        ended = self._ended.get(job_id)
        if ended is None:
            return None
        record = self.records.get_job(job_id)
        current = record is not None and (record["submissions"], record["state"]) == (ended["submissions"], ended["state"])
        return ended if current else None

    def get(self, job_id: str) -> dict:
        """The job's record, brought up to date from its folder and Ray's job table."""
        if (ended := self.ended(job_id)) is not None:
            return ended
        record = self.records.get_job(job_id)
        if record is None:
            raise JobNotFound(job_id)
        state = self.folder(record).state() or {}
        fields = {k: state[k] for k in ("state", "message", "result") if k in state}
        during = fields.get("state", record["state"])
        ray_status = self.ray_status(record["ray_job_id"]) if during not in TERMINAL else None  # an end is final
        # Ray Train's workers outlive a killed driver by a moment: its end is recorded once they are gone
        ending = ray_status in ("FAILED", "STOPPED") and self._actors_left(record["ray_job_id"])
        if not ending and ray_status in ("FAILED", "UNKNOWN") and during not in TERMINAL:
            # The driver ended without recording an end: killed, crashed, or lost with a restarted head.
            lost = (f"the job's driver died during {during} (Ray job {record['ray_job_id']}: "
                    f"{self.ray_message(record['ray_job_id'])})" if ray_status == "FAILED" else
                    f"the cluster no longer knows Ray job {record['ray_job_id']} (its head restarted?) during {during}")
            resubmitted = self._resubmit(record, lost)
            if resubmitted is not None:
                return resubmitted
            fields.update(state="failed", message=f"{lost}; it ran {record['submissions']} time(s), as many as "
                                                  "resources.driver_attempts allows. Submit it again to resume "
                                                  "from its last checkpoint")
        elif not ending and ray_status == "STOPPED" and during not in TERMINAL:
            fields.update(state="stopped", message=f"the job's driver was stopped during {during}")
        if fields.get("state") in TERMINAL and during not in TERMINAL:  # the driver could not record its end
            state = self.folder(record).transition(fields["state"], fields["message"])
        if fields and any(record.get(k) != v for k, v in fields.items()):
            record = self.records.update_job(job_id, **fields)
        out = {**record, "ray_status": ray_status, "history": state.get("history", [])}
        if record["state"] in TERMINAL and state.get("state") in TERMINAL:
            self._ended[job_id] = out
            while len(self._ended) > ENDED_KEPT:  # the oldest first (dicts keep insertion order)
                self._ended.pop(next(iter(self._ended)))
        return out

    def _resubmit(self, record: dict, lost: str) -> Optional[dict]:
        """Run a job whose driver died again (same run name and storage: it resumes from its last
        complete checkpoint), while ``resources.driver_attempts`` allows; the updated record, or None."""
        job, cfg = self.folder(record), self.stored_config(record)
        if record["submissions"] >= cfg.resources.driver_attempts:
            return None
        if not self.records.update_job_if(record["job_id"], {"ray_job_id": record["ray_job_id"]}, ray_job_id=None,
                                          state="pending", message=f"{lost}; resubmitting"):
            return self.get(record["job_id"])
        job.event("driver_lost", reason=lost, attempt=record["submissions"])
        self._launch(cfg, job, record["submissions"] + 1,
                     {"message": f"{lost}; resubmitted (attempt {record['submissions'] + 1} of "
                                 f"{cfg.resources.driver_attempts}) to resume from the last complete checkpoint"})
        return self.get(record["job_id"])

    def ray_message(self, ray_job_id: str) -> str:
        """The first line of what Ray says about how the job ended (its log tail follows it there)."""
        try:
            message = self.client.get_job_info(ray_job_id).message or "FAILED"
        except RuntimeError:
            return "FAILED"
        return message.strip().splitlines()[0].split(", last available logs")[0][:300]

    def _actors_left(self, ray_job_id: str) -> bool:
        """Whether actors of the Ray job still live (they could still write a checkpoint). Ray's own
        singletons that a job starts and that outlive it (Ray Data's ``_AutoscalingCoordinatorActor``) are
        not the job's: with them counted, a stopped job that read its data through Ray Data never ended."""
        from ray.util.state import list_actors

        try:
            job = self.client.get_job_info(ray_job_id).job_id
            live = list_actors(address=self.ray_dashboard_url, raise_on_missing_output=False,
                               filters=[("job_id", "=", job), ("state", "!=", "DEAD")]) if job else []
            return any(not a.class_name.startswith("_") for a in live)
        except Exception:  # noqa: BLE001 - the state API unreachable: the job's end is as Ray says
            return False

    def ray_status(self, ray_job_id: Optional[str]) -> Optional[str]:
        """Ray's status of the job, or UNKNOWN when Ray's job table does not have it."""
        if not ray_job_id:
            return None
        try:
            return str(self.client.get_job_status(ray_job_id).value)
        except RuntimeError as exc:
            return "UNKNOWN" if "status code 404" in str(exc) else None

    def reconcile(self) -> list[dict]:
        """Bring every unfinished job's record up to date (on start: jobs may have ended meanwhile),
        and submit jobs queued long ago that no one submitted (the replica that took them died)."""
        out = []
        for record in self.records.list_jobs():
            if record["state"] not in TERMINAL:
                try:
                    if (record["state"], record["ray_job_id"]) == ("pending", None) \
                            and time.time() - record["updated_at"] > self.queue_grace_s:
                        self.launch(record["job_id"])
                    out.append(self.get(record["job_id"]))
                except Exception as exc:  # one unreadable folder must not keep the API from starting
                    out.append({**record, "reconcile_error": str(exc)})
        return out

    def list(self, owner: Optional[str] = None) -> list[dict]:
        return [self.get(j["job_id"]) for j in self.records.list_jobs(owner)]

    def stop(self, job_id: str) -> dict:
        record = self.get(job_id)
        if record["ray_job_id"] and record["ray_status"] not in _RAY_TERMINAL:
            self.client.stop_job(record["ray_job_id"])
        elif record["state"] == "pending" and self.records.update_job_if(
                job_id, {"state": "pending", "ray_job_id": None}, state="stopped", message=STOPPED_EARLY["message"]):
            self.folder(record).transition("stopped", **STOPPED_EARLY)
            return self.get(job_id)
        return record

    def logs(self, job_id: str) -> str:
        record = self.get(job_id)
        return self.client.get_job_logs(record["ray_job_id"]) if record["ray_job_id"] else ""

    def wait(self, job_id: str, timeout_s: float = 600, poll_s: float = 1.0) -> dict:
        deadline = time.time() + timeout_s
        while True:
            record = self.get(job_id)
            if record["state"] in TERMINAL:
                return record
            if time.time() > deadline:
                raise TimeoutError(f"job {job_id} still {record['state']} after {timeout_s:.0f}s")
            time.sleep(poll_s)
