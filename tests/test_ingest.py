"""Hostile uploads: each is refused with the right reason, nothing lands outside the target,
nothing is left behind, and bombs are stopped within bounded disk and memory."""
import io
import os
import stat
import tarfile
import threading
import time
import tracemalloc
import zipfile

import pytest

from train_jobs.data.ingest import IngestError, IngestLimits, ingest


def _zip(path, members, symlinks=()):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, target in symlinks:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return str(path)


def _tar(path, build, mode="w"):
    with tarfile.open(path, mode) as tf:
        build(tf)
    return str(path)


def _add(tf, name, data=b"x", **kw):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for k, v in kw.items():
        setattr(info, k, v)
    tf.addfile(info, io.BytesIO(data) if info.isfile() else None)


def _nothing_left(tmp_path, allowed=("upload.zip", "upload.tar", "upload.tar.gz", "src")):
    leftovers = [p for p in os.listdir(tmp_path) if p not in allowed]
    assert leftovers == [], leftovers


def test_a_good_archive_unpacks(tmp_path):
    src = _zip(tmp_path / "upload.zip", {"cats/a.png": b"1", "dogs/b.png": b"22"})
    out = ingest(src, str(tmp_path / "ds"))
    assert out["files"] == 2 and out["bytes"] == 3
    assert (tmp_path / "ds" / "dogs" / "b.png").read_bytes() == b"22"


@pytest.mark.parametrize("name, reason", [
    ("../evil.txt", "climbs out"),
    ("cats/../../evil.txt", "climbs out"),
    ("/tmp/evil-abs.txt", "absolute path"),
    ("C:/evil.txt", "absolute path"),
])
def test_zip_slip_is_refused(tmp_path, name, reason):
    src = _zip(tmp_path / "upload.zip", {"ok.png": b"1", name: b"pwned"})
    with pytest.raises(IngestError, match=reason):
        ingest(src, str(tmp_path / "ds"))
    assert not (tmp_path.parent / "evil.txt").exists() and not os.path.exists("/tmp/evil-abs.txt")
    _nothing_left(tmp_path)


def test_zip_symlink_is_refused(tmp_path):
    src = _zip(tmp_path / "upload.zip", {"ok.png": b"1"}, symlinks=[("link", "/etc/passwd")])
    with pytest.raises(IngestError, match="is a link"):
        ingest(src, str(tmp_path / "ds"))
    _nothing_left(tmp_path)


@pytest.mark.parametrize("kind", ["symlink", "hardlink", "device"])
def test_tar_links_and_devices_are_refused(tmp_path, kind):
    def build(tf):
        _add(tf, "ok.png")
        if kind == "symlink":
            _add(tf, "escape", b"", type=tarfile.SYMTYPE, linkname="../../etc/passwd")
            _add(tf, "escape/owned.txt", b"through the link")
        elif kind == "hardlink":
            _add(tf, "hard", b"", type=tarfile.LNKTYPE, linkname="/etc/passwd")
        else:
            _add(tf, "dev", b"", type=tarfile.CHRTYPE)

    src = _tar(tmp_path / "upload.tar", build)
    with pytest.raises(IngestError, match="link|not a regular file"):
        ingest(src, str(tmp_path / "ds"))
    _nothing_left(tmp_path)


def test_folder_with_a_symlink_out_is_refused(tmp_path):
    (tmp_path / "src" / "cats").mkdir(parents=True)
    (tmp_path / "src" / "cats" / "a.png").write_bytes(b"1")
    os.symlink("/etc/passwd", tmp_path / "src" / "cats" / "b.png")
    with pytest.raises(IngestError, match="is a link"):
        ingest(str(tmp_path / "src"), str(tmp_path / "ds"))
    _nothing_left(tmp_path)


class _DiskWatch:
    """Samples the bytes under a folder while an ingest runs: the peak is what it wrote."""

    def __init__(self, folder):
        self.folder, self.peak, self.running = folder, 0, True
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while self.running:
            total = 0
            for dirpath, _, files in os.walk(self.folder):
                for f in files:
                    try:
                        total += os.path.getsize(os.path.join(dirpath, f))
                    except OSError:
                        pass
            self.peak = max(self.peak, total)
            time.sleep(0.005)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()


def test_zip_bomb_is_refused_before_it_is_written(tmp_path):
    src = _zip(tmp_path / "upload.zip", {"bomb.bin": b"\0" * (200 << 20)})  # 200 MiB of zeros
    assert os.path.getsize(src) < (1 << 20)
    tracemalloc.start()
    with _DiskWatch(tmp_path) as watch, pytest.raises(IngestError, match="possible archive bomb"):
        ingest(src, str(tmp_path / "ds"))
    _, peak_mem = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert watch.peak - os.path.getsize(src) < (4 << 20)
    assert peak_mem < (16 << 20)
    _nothing_left(tmp_path)


def test_tar_gz_bomb_stops_at_the_size_limit(tmp_path):
    """A compressed tar gives no per-member ratio: the byte count written stops it."""
    def build(tf):
        info = tarfile.TarInfo("bomb.bin")
        info.size = 300 << 20
        tf.addfile(info, io.BytesIO(b"\0" * info.size))

    src = _tar(tmp_path / "upload.tar.gz", build, "w:gz")
    limits = IngestLimits(max_total_bytes=8 << 20, max_member_bytes=1 << 30)
    tracemalloc.start()
    with _DiskWatch(tmp_path) as watch, pytest.raises(IngestError, match="size limits|more than"):
        ingest(src, str(tmp_path / "ds"), limits)
    _, peak_mem = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert watch.peak - os.path.getsize(src) <= (8 << 20) + (1 << 20)
    assert peak_mem < (16 << 20)
    _nothing_left(tmp_path)


def test_file_count_limit(tmp_path):
    src = _zip(tmp_path / "upload.zip", {f"c/{i}.png": b"1" for i in range(20)})
    with pytest.raises(IngestError, match="more than 10 files"):
        ingest(src, str(tmp_path / "ds"), IngestLimits(max_files=10))
    _nothing_left(tmp_path)


def test_limits_from_environment(monkeypatch):
    monkeypatch.setenv("VISIONTRAIN_INGEST_MAX_FILES", "7")
    assert IngestLimits.from_env().max_files == 7


def test_not_an_archive_and_damaged_archive(tmp_path):
    (tmp_path / "src").write_bytes(b"just text")
    with pytest.raises(IngestError, match="not a zip or tar"):
        ingest(str(tmp_path / "src"), str(tmp_path / "ds"))
    good = _zip(tmp_path / "upload.zip", {"a.png": os.urandom(5000)})
    data = open(good, "rb").read()
    with open(good, "wb") as f:
        f.write(data[:200] + b"\xff" * 100 + data[300:])
    with pytest.raises(IngestError):
        ingest(good, str(tmp_path / "ds"))
    _nothing_left(tmp_path)


def test_existing_target_is_never_overwritten(tmp_path):
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "keep.png").write_bytes(b"old")
    src = _zip(tmp_path / "upload.zip", {"keep.png": b"new"})
    with pytest.raises(IngestError, match="never modified in place"):
        ingest(src, str(tmp_path / "ds"))
    assert (tmp_path / "ds" / "keep.png").read_bytes() == b"old"
