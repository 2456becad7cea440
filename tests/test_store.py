import time

import boto3
import pytest

from train_jobs.store import LocalStore, S3Store, StoreError, StoreNotFound, StoreUnreachable, open_store


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return open_store(str(tmp_path / "artifacts"))
    bucket = request.getfixturevalue("s3_bucket")
    return open_store(f"s3://{bucket}/some/prefix")


def test_write_read_list_delete(store):
    store.write_text("jobs/a/config.yaml", "x: 1\n")
    store.write_json("jobs/a/metrics.json", {"accuracy": 0.9})
    store.write_bytes("jobs/b/weights/model.pt", b"\x00\x01")
    assert store.read_text("jobs/a/config.yaml") == "x: 1\n"
    assert store.read_json("jobs/a/metrics.json") == {"accuracy": 0.9}
    assert store.exists("jobs/b/weights/model.pt") and not store.exists("jobs/b/nothing")
    assert store.list("jobs/a") == ["jobs/a/config.yaml", "jobs/a/metrics.json"]
    assert store.list() == ["jobs/a/config.yaml", "jobs/a/metrics.json", "jobs/b/weights/model.pt"]
    store.delete("jobs/a")
    assert store.list() == ["jobs/b/weights/model.pt"]
    with pytest.raises(StoreNotFound):
        store.read_bytes("jobs/a/config.yaml")


def test_append_lines_and_read_jsonl(store):
    for i in range(3):
        store.append_line("jobs/a/events.jsonl", f'{{"i": {i}}}')
    assert store.read_jsonl("jobs/a/events.jsonl") == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert store.read_jsonl("jobs/a/missing.jsonl") == []


def test_files_round_trip(store, tmp_path):
    src = tmp_path / "w.bin"
    src.write_bytes(b"weights" * 1000)
    store.upload_file("jobs/a/w.bin", str(src))
    store.download_file("jobs/a/w.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == src.read_bytes()


@pytest.mark.parametrize("key", ["../escape", "/../../etc/passwd", ".."])
def test_keys_cannot_leave_the_store(store, key):
    with pytest.raises(StoreError, match="outside the store"):
        store.write_text(key, "x")


def test_s3_objects_land_under_the_prefix(s3_bucket):
    open_store(f"s3://{s3_bucket}/team/vt").write_text("jobs/j/state.json", "{}")
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert keys == ["team/vt/jobs/j/state.json"]


def test_unreachable_s3_fails_fast_with_a_clear_error(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens on port 9
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    store = S3Store("s3://bucket/p", max_attempts=2)
    t0 = time.time()
    with pytest.raises(StoreUnreachable) as err:
        store.write_text("a", "b")
    assert "cannot reach the S3 endpoint http://127.0.0.1:9" in str(err.value)
    assert "AWS_ENDPOINT_URL" in str(err.value)
    assert time.time() - t0 < 30


def test_missing_bucket_says_so(s3_server):
    with pytest.raises(StoreError, match="bucket 'no-such-bucket' does not exist"):
        open_store("s3://no-such-bucket/x").write_text("a", "b")


def test_unsupported_scheme():
    with pytest.raises(StoreError, match="use a local folder or s3://"):
        open_store("gs://bucket/x")


def test_local_writes_are_atomic(tmp_path):
    store = LocalStore(str(tmp_path))
    store.write_text("a.json", "old")
    store.write_text("a.json", "new")
    assert store.read_text("a.json") == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]  # no temp files left behind


def test_logs_are_read_incrementally_and_no_writer_loses_lines(store):
    """Several processes append to one job's events at once (the driver and the chief worker): on S3,
    where there is no append, each append is an object of its own, so no line is lost."""
    import threading

    def writer(w: int) -> None:
        for i in range(20):
            store.append_line("jobs/a/events.jsonl", f'{{"w": {w}, "i": {i}}}')

    cursor: dict = {}
    assert store.read_lines("jobs/a/events.jsonl", cursor) == []
    threads = [threading.Thread(target=writer, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    seen = []
    while any(t.is_alive() for t in threads):
        seen += store.read_jsonl("jobs/a/events.jsonl", cursor)
    seen += store.read_jsonl("jobs/a/events.jsonl", cursor)
    assert sorted((e["w"], e["i"]) for e in seen) == [(w, i) for w in range(3) for i in range(20)]  # each once
    for w in range(3):
        assert [e["i"] for e in seen if e["w"] == w] == list(range(20))  # each writer's order kept
    assert store.read_jsonl("jobs/a/events.jsonl", cursor) == []
    assert len(store.read_jsonl("jobs/a/events.jsonl")) == 60
    assert store.logs("jobs/a") == ["jobs/a/events.jsonl"]


def test_an_object_is_read_in_chunks(store, tmp_path):
    store.write_bytes("jobs/a/w.bin", b"x" * ((1 << 20) * 2 + 5))
    size, chunks = store.open_read("jobs/a/w.bin")
    parts = list(chunks)
    assert size == (1 << 20) * 2 + 5 and len(parts) == 3 and b"".join(parts) == b"x" * size
