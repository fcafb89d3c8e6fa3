"""download_file against a loopback HTTP server; load_mnist's download step through it."""

import hashlib
import http.server
import io
import socket
import sys
import threading

import numpy as np
import pytest

from common.data import mnist as mnist_module
from common.data.download import DownloadError, download_file
from common.data.mnist import load_mnist, read_idx


class _Server:
    """Serves ``files`` (url path -> bytes); paths under /short/ promise more bytes than sent."""

    def __init__(self):
        self.files = {}
        self.requests = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                owner.requests.append(self.path)
                body = owner.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                extra = 100 if self.path.startswith("/short/") else 0
                self.send_header("Content-Length", str(len(body) + extra))
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)


@pytest.fixture
def server():
    srv = _Server()
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


@pytest.fixture
def dead_mirror():
    # A port that was just free and is now closed: connecting is refused at once.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def _payload(seed=0, size=50_000):
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def test_good_file_is_downloaded_and_verified(server, tmp_path):
    body = _payload()
    server.files["/m/a.bin"] = body
    path = download_file(
        "a.bin", [server.url + "/m/"], hashlib.sha256(body).hexdigest(), tmp_path / "dest", progress=False
    )
    assert path == tmp_path / "dest" / "a.bin"
    assert path.read_bytes() == body
    assert not (tmp_path / "dest" / "a.bin.part").exists()


def test_checksum_mismatch_leaves_no_file(server, tmp_path):
    server.files["/m/a.bin"] = _payload()
    wrong = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(DownloadError) as err:
        download_file("a.bin", [server.url + "/m"], wrong, tmp_path, progress=False)
    message = str(err.value)
    assert "a.bin" in message and "sha256 mismatch" in message and server.url in message
    assert str(tmp_path / "a.bin") in message  # where to put it by hand
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_dead_then_truncated_then_good_mirror(server, dead_mirror, tmp_path):
    body = _payload(1)
    server.files["/short/a.bin"] = body
    server.files["/good/a.bin"] = body
    mirrors = [dead_mirror, server.url + "/short/", server.url + "/good/"]
    path = download_file("a.bin", mirrors, hashlib.sha256(body).hexdigest(), tmp_path, timeout=5, progress=False)
    assert path.read_bytes() == body
    assert server.requests == ["/short/a.bin", "/good/a.bin"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]


def test_every_mirror_failing_names_each_one(server, dead_mirror, tmp_path):
    with pytest.raises(DownloadError) as err:
        download_file("missing.bin", [dead_mirror, server.url], "0" * 64, tmp_path, timeout=5, progress=False)
    message = str(err.value)
    assert "missing.bin" in message
    assert dead_mirror + "missing.bin" in message and server.url + "/missing.bin" in message
    assert "404" in message and str(tmp_path) in message
    assert not any(tmp_path.iterdir())


def test_verified_file_is_not_downloaded_again(server, tmp_path):
    body = _payload(2)
    (tmp_path / "a.bin").write_bytes(body)
    server.files["/a.bin"] = body
    path = download_file("a.bin", [server.url], hashlib.sha256(body).hexdigest(), tmp_path, progress=False)
    assert path.read_bytes() == body
    assert server.requests == []


def test_corrupted_existing_file_is_replaced(server, tmp_path):
    body = _payload(3)
    (tmp_path / "a.bin").write_bytes(body[:-1] + b"x")
    server.files["/a.bin"] = body
    download_file("a.bin", [server.url], hashlib.sha256(body).hexdigest(), tmp_path, progress=False)
    assert (tmp_path / "a.bin").read_bytes() == body
    assert server.requests == ["/a.bin"]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("terminal", [True, False])
def test_progress_bar_goes_to_a_terminal_stderr_only(server, tmp_path, monkeypatch, capsys, terminal):
    body = _payload(4)
    server.files["/a.bin"] = body
    err = _Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    download_file("a.bin", [server.url], hashlib.sha256(body).hexdigest(), tmp_path)
    assert ("a.bin" in err.getvalue()) is terminal  # piped into a log, no progress frames
    assert capsys.readouterr().out == ""


def test_load_mnist_downloads_missing_files_into_cache(server, dead_mirror, tmp_path, shared_data, monkeypatch):
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        server.files["/mnist/" + name] = (shared_data / "mnist" / name).read_bytes()
    monkeypatch.setattr(mnist_module, "MNIST_MIRRORS", [dead_mirror, server.url + "/mnist/"])
    data = load_mnist("test", tmp_path / "data", tmp_path / "cache", allow_hub=False)
    cache = tmp_path / "cache" / "mnist"
    assert sorted(p.name for p in cache.iterdir()) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    assert str(cache.resolve()) in data.source
    expected = read_idx(shared_data / "mnist" / "t10k-images-idx3-ubyte.gz")
    assert np.array_equal(data.images, expected)
    # Second call finds the verified cache and asks no server.
    served = len(server.requests)
    load_mnist("test", tmp_path / "data", tmp_path / "cache", allow_hub=False)
    assert len(server.requests) == served
