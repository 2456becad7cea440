"""The records database: the platform's index of jobs (SQLite file by default, any SQLAlchemy URL).

A job's folder in the artifact store is the source of truth for its run; this index says who
owns which job, which Ray job runs it, and its last known state, and is brought up to date
from the folders and Ray's job table.
"""
from __future__ import annotations

import contextlib
import time
import uuid
from typing import Any, Optional

from sqlalchemy import (JSON, Boolean, Column, Float, Integer, MetaData, String, Table, Text, create_engine, event,
                        delete, false, func, insert, inspect, select, text, update)
from sqlalchemy.exc import IntegrityError

from train_jobs.config import home_dir
from visiontrain.settings import settings as env_settings

__all__ = ["Records", "default_database_url"]

metadata = MetaData()
CHAT_KEEP_S, CHATS_PER_USER = 30 * 86400, 200

jobs = Table(
    "jobs",
    metadata,
    Column("job_id", String(64), primary_key=True),
    Column("owner", String(128), nullable=False, index=True),
    Column("task", String(32), nullable=False),
    Column("model", String(256), nullable=False),
    Column("state", String(16), nullable=False),
    Column("message", Text, nullable=False, default=""),
    Column("config_uri", Text, nullable=False),
    Column("folder_uri", Text, nullable=False),
    Column("ray_job_id", String(128)),
    Column("submissions", Integer, nullable=False, default=0),
    Column("result", JSON),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)


users = Table(
    "users",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("password_hash", Text, nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
    # access tokens carry the epoch they were issued in: raising it revokes them all (logout, password, disable)
    Column("token_epoch", Integer, nullable=False, default=0, server_default="0"),
    Column("disabled", Boolean, nullable=False, default=False, server_default=false()),
)

attempts = Table(  # counters of recent attempts (logins per name and per address), shared by every replica
    "attempts",
    metadata,
    Column("key", String(256), primary_key=True),
    Column("window_start", Float, nullable=False),
    Column("count", Integer, nullable=False),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("username", String(64), nullable=False, index=True),
    Column("expires_at", Float, nullable=False),
    Column("used", Boolean, nullable=False, default=False),
)


datasets = Table(
    "datasets",
    metadata,
    Column("dataset_id", String(80), primary_key=True),
    Column("owner", String(64), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("format", String(32)),
    Column("ok", Boolean, nullable=False),
    Column("summary", Text, nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    Column("task", String(32)),
    Column("images", Integer),
    Column("source", String(80)),  # the dataset this one was converted from
)

leases = Table(  # things a user holds open (event streams), each until it is dropped or expires
    "leases",
    metadata,
    Column("lease_id", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("owner", String(64), nullable=False, index=True),
    Column("expires_at", Float, nullable=False),
)

chat_sessions = Table(
    "chat_sessions",
    metadata,
    Column("session_id", String(64), primary_key=True),
    Column("owner", String(64), nullable=False, index=True),
    Column("history", JSON, nullable=False),
    Column("plan", JSON),
    Column("job_id", String(80)),  # the job the conversation is about: "it"
    Column("updated_at", Float, nullable=False),
)


def default_database_url(home: Optional[str] = None) -> str:
    """``VISIONTRAIN_DATABASE_URL``, else SQLite in the home folder."""
    return env_settings().database_url or f"sqlite:///{home or home_dir()}/records.db"


def _write_ahead_log(dbapi_connection, _record) -> None:
    """SQLite in WAL mode: readers do not wait for a writer, and a commit appends to the log
    instead of rewriting the file with several fsyncs (the API commits on every chat turn; under a
    burst, commits queued behind each other for seconds). A process that dies loses nothing
    committed; a power cut may lose the last commits, never the file."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Records:
    def __init__(self, url: Optional[str] = None):
        self.url = url or default_database_url()
        self.engine = create_engine(self.url)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _write_ahead_log)
        metadata.create_all(self.engine)
        self._upgrade()

    def _upgrade(self) -> None:
        """Bring a database made by an earlier version up to this schema (columns added since)."""
        have = {c["name"] for c in inspect(self.engine).get_columns("users")}
        with self.engine.begin() as conn:
            if "token_epoch" not in have:
                conn.execute(text("ALTER TABLE users ADD COLUMN token_epoch INTEGER NOT NULL DEFAULT 0"))
            if "disabled" not in have:
                conn.execute(text("ALTER TABLE users ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT FALSE"))
            have = {c["name"] for c in inspect(self.engine).get_columns("datasets")}
            for name, kind in (("task", "VARCHAR(32)"), ("images", "INTEGER"), ("source", "VARCHAR(80)")):
                if name not in have:
                    conn.execute(text(f"ALTER TABLE datasets ADD COLUMN {name} {kind}"))
            if "job_id" not in {c["name"] for c in inspect(self.engine).get_columns("chat_sessions")}:
                conn.execute(text("ALTER TABLE chat_sessions ADD COLUMN job_id VARCHAR(80)"))
            if self.engine.dialect.name == "postgresql":  # content ids grew from 19 to 67 characters
                conn.execute(text("ALTER TABLE datasets ALTER COLUMN dataset_id TYPE VARCHAR(80)"))

    def add_job(self, **fields: Any) -> dict:
        now = time.time()
        row = {"state": "pending", "message": "", "submissions": 0, "created_at": now, "updated_at": now, **fields}
        with self.engine.begin() as conn:
            conn.execute(insert(jobs).values(**row))
        return self.get_job(row["job_id"])

    def update_job(self, job_id: str, **fields: Any) -> dict:
        with self.engine.begin() as conn:
            conn.execute(update(jobs).where(jobs.c.job_id == job_id).values(updated_at=time.time(), **fields))
        return self.get_job(job_id)

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(select(1))

    def update_job_if(self, job_id: str, expected: dict[str, Any], **fields: Any) -> bool:
        """Update the job only while its columns still hold ``expected``; False when another process
        got there first (two replicas noticing the same ended driver resubmit it once)."""
        with self.engine.begin() as conn:
            done = conn.execute(update(jobs).where(jobs.c.job_id == job_id,
                                                   *(jobs.c[k] == v for k, v in expected.items()))
                                .values(updated_at=time.time(), **fields))
        return done.rowcount == 1

    def get_job(self, job_id: str) -> Optional[dict]:
        with self.engine.connect() as conn:
            row = conn.execute(select(jobs).where(jobs.c.job_id == job_id)).mappings().first()
        return dict(row) if row else None

    def add_user(self, username: str, password_hash: str, role: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(users).values(username=username, password_hash=password_hash, role=role,
                                              created_at=time.time()))

    def get_user(self, username: str) -> Optional[dict]:
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.username == username)).mappings().first()
        return dict(row) if row else None

    def list_users(self) -> list[dict]:
        with self.engine.connect() as conn:
            return [{k: v for k, v in r.items() if k not in ("password_hash", "token_epoch")}
                    for r in conn.execute(select(users).order_by(users.c.username)).mappings()]

    def update_user(self, username: str, **fields: Any) -> bool:
        """Change a user's columns and raise their token epoch (every token they hold stops working)."""
        with self.engine.begin() as conn:
            done = conn.execute(update(users).where(users.c.username == username)
                                .values(token_epoch=users.c.token_epoch + 1, **fields))
            conn.execute(update(refresh_tokens).where(refresh_tokens.c.username == username).values(used=True))
        return done.rowcount == 1

    def hits(self, key: str, window_s: float) -> tuple[int, float]:
        """The attempts counted under ``key`` in its current window, and when it ends (nothing counted)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(attempts).where(attempts.c.key == key)).mappings().first()
        if row is None or row["window_start"] <= time.time() - window_s:
            return 0, time.time()
        return row["count"], row["window_start"] + window_s

    def take_lease(self, kind: str, owner: str, limit: int, ttl_s: float) -> Optional[str]:
        """A new lease of ``kind`` for ``owner`` while they hold fewer than ``limit`` (expired ones do not
        count), or None. Kept alive with :meth:`renew_lease`; every replica sees every lease."""
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(delete(leases).where(leases.c.expires_at < now))
            held = conn.execute(select(func.count()).select_from(leases)
                                .where(leases.c.kind == kind, leases.c.owner == owner)).scalar_one()
            if held >= limit:
                return None
            lease_id = uuid.uuid4().hex
            conn.execute(insert(leases).values(lease_id=lease_id, kind=kind, owner=owner, expires_at=now + ttl_s))
        return lease_id

    @contextlib.contextmanager
    def held(self, name: str, ttl_s: float = 30.0, wait_s: float = 10.0):
        """A lock every process that shares this database respects (the row's key is ``name``; a holder
        that died lets go after ``ttl_s``). TimeoutError after ``wait_s``."""
        deadline = time.time() + wait_s
        while True:
            now = time.time()
            try:
                with self.engine.begin() as conn:
                    conn.execute(delete(leases).where(leases.c.lease_id == name, leases.c.expires_at < now))
                    conn.execute(insert(leases).values(lease_id=name, kind="lock", owner="", expires_at=now + ttl_s))
                break
            except IntegrityError:
                if time.time() > deadline:
                    raise TimeoutError(f"{name} stayed locked for {wait_s:g} s") from None
                time.sleep(0.02)
        try:
            yield
        finally:
            self.drop_lease(name)

    def count_leases(self, kind: str) -> int:
        """Live leases of ``kind`` (for example the API replicas that beat in the last minute)."""
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(leases).where(
                leases.c.kind == kind, leases.c.expires_at >= time.time())).scalar_one()

    def renew_lease(self, lease_id: str, ttl_s: float, kind: str = "", owner: str = "") -> None:
        """Extend a lease (made anew, of ``kind`` for ``owner``, when it had lapsed)."""
        with self.engine.begin() as conn:
            if conn.execute(update(leases).where(leases.c.lease_id == lease_id)
                            .values(expires_at=time.time() + ttl_s)).rowcount == 0 and kind:
                conn.execute(insert(leases).values(lease_id=lease_id, kind=kind, owner=owner,
                                                   expires_at=time.time() + ttl_s))

    def drop_lease(self, lease_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(leases).where(leases.c.lease_id == lease_id))

    def update_password_hash(self, username: str, password_hash: str) -> None:
        """The same password hashed anew (stronger parameters); tokens stay valid."""
        with self.engine.begin() as conn:
            conn.execute(update(users).where(users.c.username == username).values(password_hash=password_hash))

    def hit(self, key: str, window_s: float) -> tuple[int, float]:
        """Count one attempt under ``key`` in its current window of ``window_s`` seconds: the count so far
        (this one included) and when the window ends. One counter for every replica."""
        now = time.time()
        with self.engine.begin() as conn:
            fresh = conn.execute(update(attempts).where(attempts.c.key == key, attempts.c.window_start > now - window_s)
                                 .values(count=attempts.c.count + 1))
            if fresh.rowcount == 0:
                conn.execute(delete(attempts).where(attempts.c.window_start < now - 86400))
                if conn.execute(update(attempts).where(attempts.c.key == key)
                                .values(window_start=now, count=1)).rowcount == 0:
                    try:
                        with conn.begin_nested():
                            conn.execute(insert(attempts).values(key=key, window_start=now, count=1))
                    except IntegrityError:  # another replica counted the first one at the same moment
                        conn.execute(update(attempts).where(attempts.c.key == key).values(count=attempts.c.count + 1))
            row = conn.execute(select(attempts).where(attempts.c.key == key)).mappings().first()
        return row["count"], row["window_start"] + window_s

    def add_refresh_token(self, jti: str, username: str, expires_at: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(refresh_tokens).values(jti=jti, username=username, expires_at=expires_at, used=False))

    def use_refresh_token(self, jti: str) -> bool:
        """Mark a refresh token used; False when it was unknown or already used (one use each)."""
        with self.engine.begin() as conn:
            done = conn.execute(update(refresh_tokens).where(refresh_tokens.c.jti == jti, refresh_tokens.c.used.is_(False))
                                .values(used=True))
        return done.rowcount == 1

    def revoke_refresh_tokens(self, username: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(refresh_tokens).where(refresh_tokens.c.username == username).values(used=True))

    def add_dataset(self, dataset_id: str, owner: str, name: str, report: dict, source: Optional[str] = None) -> dict:
        """Record that ``owner`` uploaded ``dataset_id`` (a content hash: the same upload twice is one row,
        which the second upload makes the newest, under its new name), with what its ``report`` says."""
        with self.engine.begin() as conn:
            mine = (datasets.c.dataset_id == dataset_id) & (datasets.c.owner == owner)
            if conn.execute(update(datasets).where(mine).values(name=name, created_at=time.time())).rowcount == 0:
                conn.execute(insert(datasets).values(
                    dataset_id=dataset_id, owner=owner, name=name, format=report.get("format"), ok=bool(report["ok"]),
                    summary=report["summary"], task=report.get("task"), images=report.get("images"), source=source,
                    created_at=time.time()))
        return self.get_dataset(dataset_id, owner)

    def rename_dataset(self, dataset_id: str, owner: str, name: str) -> bool:
        with self.engine.begin() as conn:
            return conn.execute(update(datasets).where(datasets.c.dataset_id == dataset_id, datasets.c.owner == owner)
                                .values(name=name)).rowcount == 1

    def remove_dataset(self, dataset_id: str, owner: str) -> int:
        """Forget ``owner``'s record of the dataset; how many records (other owners') still name it."""
        with self.engine.begin() as conn:
            conn.execute(delete(datasets).where(datasets.c.dataset_id == dataset_id, datasets.c.owner == owner))
            return conn.execute(select(func.count()).select_from(datasets)
                                .where(datasets.c.dataset_id == dataset_id)).scalar_one()

    def get_dataset(self, dataset_id: str, owner: str) -> Optional[dict]:
        with self.engine.connect() as conn:
            row = conn.execute(select(datasets).where(datasets.c.dataset_id == dataset_id,
                                                      datasets.c.owner == owner)).mappings().first()
        return dict(row) if row else None

    def list_datasets(self, owner: Optional[str] = None) -> list[dict]:
        query = select(datasets).order_by(datasets.c.created_at.desc())
        if owner is not None:
            query = query.where(datasets.c.owner == owner)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def save_chat(self, session_id: str, owner: str, history: list, plan: Optional[dict],
                  job_id: Optional[str] = None) -> None:
        """Keep a conversation (``job_id``: the job it is now about; None keeps the one it had). A new
        one makes room: conversations idle for CHAT_KEEP_S are forgotten, and each user keeps their
        CHATS_PER_USER most recent."""
        with self.engine.begin() as conn:
            values = {"history": history, "plan": plan, "updated_at": time.time(), **({"job_id": job_id} if job_id else {})}
            if conn.execute(update(chat_sessions).where(chat_sessions.c.session_id == session_id)
                            .values(**values)).rowcount == 0:
                conn.execute(insert(chat_sessions).values(session_id=session_id, owner=owner, **values))
                conn.execute(delete(chat_sessions).where(chat_sessions.c.updated_at < time.time() - CHAT_KEEP_S))
                kept = select(chat_sessions.c.session_id).where(chat_sessions.c.owner == owner) \
                    .order_by(chat_sessions.c.updated_at.desc()).limit(CHATS_PER_USER)
                conn.execute(delete(chat_sessions).where(chat_sessions.c.owner == owner,
                                                         chat_sessions.c.session_id.not_in(kept.scalar_subquery())))

    def get_chat(self, session_id: str) -> Optional[dict]:
        with self.engine.connect() as conn:
            row = conn.execute(select(chat_sessions).where(chat_sessions.c.session_id == session_id)).mappings().first()
        return dict(row) if row else None

    def list_jobs(self, owner: Optional[str] = None) -> list[dict]:
        query = select(jobs).order_by(jobs.c.created_at.desc())
        if owner is not None:
            query = query.where(jobs.c.owner == owner)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]
