"""The knowledge base against a real Chroma server (HttpClient), started from the venv's CLI."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import Settings
from knowledge.service import KnowledgeBase


def _chroma_cli() -> str | None:
    beside = Path(sys.executable).parent / "chroma"
    return str(beside) if beside.exists() else shutil.which("chroma")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def chroma_url(tmp_path: Path) -> Iterator[str]:
    """A throw-away `chroma run` server on a free port."""
    cli = _chroma_cli()
    if cli is None:
        pytest.skip(reason="the chroma CLI is not installed in this environment")
    port = _free_port()
    log = (tmp_path / "chroma.log").open("wb")
    process = subprocess.Popen(
        [cli, "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(tmp_path / "chroma-server")],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"chroma server did not start: {(tmp_path / 'chroma.log').read_text()[-500:]}")
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


class TestChromaServer:
    def test_indexes_and_searches_through_the_server(
        self, settings: Settings, chroma_url: str, corpus_dir: Path, embeddings: object, tmp_path: Path
    ) -> None:
        """With chroma_url set, vectors live in the server and nothing is written under data_dir/chroma."""
        remote = settings.model_copy(update={"chroma_url": chroma_url})
        kb = KnowledgeBase.open(
            remote, embeddings=embeddings, corpus_dir=corpus_dir, precomputed=tmp_path / "none.npz"  # type: ignore[arg-type]
        )
        assert kb.dense.count() == len(kb.store.records())
        assert not (settings.data_dir / "chroma").exists()
        citation, _score = kb.search("询问查证的时间不得超过八小时")[0]
        assert (citation.law, citation.article) == ("治安管理处罚法", "第八十三条")
