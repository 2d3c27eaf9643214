import gzip
import hashlib
import pickle
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rnnlab.data.download import ensure_files
from rnnlab.data.remote import (
    ChecksumError,
    DownloadError,
    RemoteFile,
    check_digests,
    file_digest,
    uncompressed_md5,
    verify,
)

PAYLOAD = b"rnnlab test payload\n" * 500
PAYLOAD_MD5 = hashlib.md5(PAYLOAD).hexdigest()
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


# PAYLOAD as its official .gz file, described by that file's md5 and the content's.
PACKED = gzip.compress(PAYLOAD, mtime=0)
PACKED_MD5 = hashlib.md5(PACKED).hexdigest()
PACKED_REMOTE = RemoteFile("p.gz", (), md5=PACKED_MD5, content_md5=PAYLOAD_MD5)


class _Handler(BaseHTTPRequestHandler):
    """Serves /ok.bin in full and /short.bin with a body shorter than announced."""

    def do_GET(self) -> None:
        if self.path not in ("/ok.bin", "/short.bin"):
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        body = PAYLOAD if self.path == "/ok.bin" else PAYLOAD[: len(PAYLOAD) // 2]
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def dead_url() -> str:
    # A port that was free a moment ago: connections are refused at once, no waiting.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _remote(*urls: str, md5: str | None = PAYLOAD_MD5, name: str = "ok.bin") -> RemoteFile:
    return RemoteFile(name=name, urls=tuple(urls), md5=md5, sha256=PAYLOAD_SHA256 if md5 else None)


def test_file_digest(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(PAYLOAD)
    assert file_digest(path, "md5") == PAYLOAD_MD5
    assert file_digest(path, "sha256") == PAYLOAD_SHA256


def test_verify_accepts_upper_case_digest(tmp_path: Path) -> None:
    path = tmp_path / "ok.bin"
    path.write_bytes(PAYLOAD)
    verify(path, RemoteFile("ok.bin", (), md5=PAYLOAD_MD5.upper()))


def test_local_checksum_mismatch(tmp_path: Path, dead_url: str) -> None:
    path = tmp_path / "ok.bin"
    path.write_bytes(b"not the payload")
    remote = _remote(f"{dead_url}/ok.bin")
    with pytest.raises(ChecksumError) as info:
        ensure_files([remote], tmp_path)
    message = str(info.value)
    assert str(path) in message
    assert PAYLOAD_MD5 in message
    assert hashlib.md5(b"not the payload").hexdigest() in message
    assert "data.verify=false" in message and "Delete" in message
    assert info.value.path == path and info.value.expected == PAYLOAD_MD5

    # Opting out keeps the local file as it is, without touching the network.
    assert ensure_files([remote], tmp_path, verify_checksums=False) == [path]
    assert path.read_bytes() == b"not the payload"


def test_checksum_error_pickles() -> None:
    err = ChecksumError("boom", path=Path("x"), algo="md5", expected="a", actual="b")
    copy = pickle.loads(pickle.dumps(err))
    assert str(copy) == "boom" and copy.actual == "b" and copy.path == Path("x")


def test_download_falls_back_to_second_mirror(tmp_path: Path, server: str, dead_url: str) -> None:
    target_dir = tmp_path / "nested" / "mnist"
    remote = _remote(f"{dead_url}/ok.bin", f"{server}/ok.bin")
    paths = ensure_files([remote], target_dir, timeout=5)
    assert paths == [target_dir / "ok.bin"]
    assert paths[0].read_bytes() == PAYLOAD
    assert sorted(p.name for p in target_dir.iterdir()) == ["ok.bin"]  # no temp files


def test_download_wrong_checksum_keeps_nothing(tmp_path: Path, server: str) -> None:
    remote = RemoteFile("ok.bin", (f"{server}/ok.bin",), md5="0" * 32)
    with pytest.raises(ChecksumError) as info:
        ensure_files([remote], tmp_path, timeout=5)
    assert "ok.bin" in str(info.value) and "0" * 32 in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_truncated_body_is_rejected_without_digest(tmp_path: Path, server: str) -> None:
    remote = _remote(f"{server}/short.bin", md5=None)
    with pytest.raises(DownloadError, match="closed after"):
        ensure_files([remote], tmp_path, timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_interrupt_removes_temp_file(
    tmp_path: Path, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("rnnlab.io.atomic.os.fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ensure_files([_remote(f"{server}/ok.bin")], tmp_path, timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_all_mirrors_fail_names_everything(tmp_path: Path, server: str, dead_url: str) -> None:
    files = [
        _remote(f"{dead_url}/a.gz", f"{server}/missing/a.gz", name="a.gz"),
        _remote(f"{dead_url}/b.gz", name="b.gz"),
        _remote("not-a-url", name="c.gz"),
    ]
    with pytest.raises(DownloadError) as info:
        ensure_files(files, tmp_path / "data", timeout=5)
    assert not isinstance(info.value, ChecksumError)
    message = str(info.value)
    assert str(tmp_path / "data") in message
    for remote in files:
        assert remote.name in message
        for url in remote.urls:
            assert url in message
    assert not (tmp_path / "data").exists()  # the folder made for them is gone


def _no_content_check() -> str:
    raise AssertionError("the content was checked although the file itself matched")


def test_check_digests_skips_the_content_when_the_file_matches() -> None:
    check_digests(Path("p.gz"), PACKED_REMOTE, {"md5": PACKED_MD5}, _no_content_check)


@pytest.mark.parametrize(
    "stored",
    [
        pytest.param(PACKED, id="gz-md5"),
        pytest.param(gzip.compress(PAYLOAD, compresslevel=1, mtime=7), id="recompressed"),
        pytest.param(PAYLOAD, id="raw-under-gz-name"),
    ],
)
def test_verify_accepts_the_file_or_its_content(tmp_path: Path, stored: bytes) -> None:
    path = tmp_path / "p.gz"
    path.write_bytes(stored)
    verify(path, PACKED_REMOTE)
    assert uncompressed_md5(path) == PAYLOAD_MD5


def test_verify_rejects_a_file_matching_neither(tmp_path: Path) -> None:
    other = PAYLOAD.replace(b"payload", b"PAYLOAD")
    path = tmp_path / "p.gz"
    path.write_bytes(gzip.compress(other, mtime=0))
    with pytest.raises(ChecksumError) as info:
        verify(path, PACKED_REMOTE)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    for digest in (
        PACKED_MD5,
        PAYLOAD_MD5,
        file_digest(path, "md5"),
        hashlib.md5(other).hexdigest(),
    ):
        assert digest in message
    assert info.value.expected == PACKED_MD5 and info.value.actual == file_digest(path, "md5")


def test_verify_names_a_truncated_gzip(tmp_path: Path) -> None:
    path = tmp_path / "p.gz"
    path.write_bytes(PACKED[: len(PACKED) // 2])
    assert uncompressed_md5(path) is None
    with pytest.raises(ChecksumError, match="cannot be decompressed") as info:
        verify(path, PACKED_REMOTE)
    assert str(path) in str(info.value) and PAYLOAD_MD5 in str(info.value)


def test_verify_by_content_alone(tmp_path: Path) -> None:
    path = tmp_path / "p.gz"
    path.write_bytes(gzip.compress(PAYLOAD, compresslevel=1))
    verify(path, RemoteFile("p.gz", (), content_md5=PAYLOAD_MD5))
    with pytest.raises(ChecksumError, match=f"expected {'0' * 32}"):
        verify(path, RemoteFile("p.gz", (), content_md5="0" * 32))


def test_download_of_the_same_content_is_kept(tmp_path: Path, server: str) -> None:
    # The mirror serves the data uncompressed: another file, the same content.
    remote = RemoteFile("ok.bin", (f"{server}/ok.bin",), md5=PACKED_MD5, content_md5=PAYLOAD_MD5)
    assert ensure_files([remote], tmp_path, timeout=5) == [tmp_path / "ok.bin"]
    assert (tmp_path / "ok.bin").read_bytes() == PAYLOAD


def test_download_matching_neither_keeps_nothing(tmp_path: Path, server: str) -> None:
    remote = RemoteFile("ok.bin", (f"{server}/ok.bin",), md5=PACKED_MD5, content_md5="0" * 32)
    with pytest.raises(ChecksumError) as info:
        ensure_files([remote], tmp_path, timeout=5)
    message = str(info.value)
    assert PACKED_MD5 in message and "0" * 32 in message and message.count(PAYLOAD_MD5) == 2
    assert "served a different file" in message and "\n" not in message
    assert list(tmp_path.iterdir()) == []


def test_a_failed_download_leaves_no_folder_it_made(tmp_path: Path, server: str) -> None:
    kept = tmp_path / "data"
    kept.mkdir()
    target = kept / "corpus" / "v1"
    remote = _remote(f"{server}/short.bin", md5=None)
    with pytest.raises(DownloadError):
        ensure_files([remote], target, timeout=5)
    assert list(tmp_path.iterdir()) == [kept] and list(kept.iterdir()) == []
    with pytest.raises(ChecksumError):
        ensure_files([RemoteFile("ok.bin", (f"{server}/ok.bin",), md5="0" * 32)], target, timeout=5)
    assert list(kept.iterdir()) == []
