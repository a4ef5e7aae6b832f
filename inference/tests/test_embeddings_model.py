"""all-MiniLM-L6-v2 converted to GGUF without torch (bert_gguf.py), served by a real
``llama-server --embeddings``, checked against the model's own weights: a numpy forward pass of
the sentence-transformers model (BERT, mean pooling, L2 normalisation) straight from
``model.safetensors``, so a wrong tensor name, type, vocabulary or pooling shows."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gguf
import httpx
import numpy as np
import pytest

from inference.localmodels.bert_gguf import convert_bert, read_safetensors
from stack import assets
from stack.processes import free_port
from stack.stack import embeddings_llama

SENTENCES = [
    "a man is eating food",
    "a man is eating a piece of bread",
    "the stock market fell sharply today",
]


@pytest.fixture(scope="module")
def source() -> Path:
    return assets.minilm_source()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    spec = embeddings_llama(free_port())
    argv = [str(assets.llama_server()), "-m", str(spec.model_path), "--host", "127.0.0.1", "--port", str(spec.port)]
    argv += ["--alias", spec.alias, "-c", str(spec.context), "-np", "2", "-t", "1", "--embeddings", "--no-webui"]
    log = tmp_path_factory.mktemp("minilm") / "llama.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{spec.port}"
    try:
        for _ in range(300):  # 30 s: it loads in well under a second when idle
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, log.read_text()[-2000:]
            time.sleep(0.1)
        else:
            pytest.fail(f"llama-server did not become ready:\n{log.read_text()[-2000:]}")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _layer_norm(x: np.ndarray[Any, Any], w: np.ndarray[Any, Any], b: np.ndarray[Any, Any], eps: float):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def _gelu(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def reference_embedding(source: Path, text: str) -> np.ndarray[Any, Any]:
    """sentence-transformers' all-MiniLM-L6-v2 in numpy, for text of whole lower-case vocabulary words."""
    config = json.loads((source / "config.json").read_text())
    w = {name: np.asarray(array, dtype=np.float64) for name, array in read_safetensors(source / "model.safetensors")}
    vocab = {word: i for i, word in enumerate((source / "vocab.txt").read_text().split("\n"))}
    ids = [vocab["[CLS]"], *(vocab[word] for word in text.split()), vocab["[SEP]"]]
    eps, heads = config["layer_norm_eps"], config["num_attention_heads"]
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][: len(ids)]
    x = x + w["embeddings.token_type_embeddings.weight"][0]
    x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}."

        def dense(h: np.ndarray[Any, Any], name: str, p: str = p) -> np.ndarray[Any, Any]:
            return h @ w[p + name + ".weight"].T + w[p + name + ".bias"]

        n, d = x.shape
        q, k, v = (
            dense(x, f"attention.self.{m}").reshape(n, heads, -1).transpose(1, 0, 2) for m in ("query", "key", "value")
        )
        scores = q @ k.transpose(0, 2, 1) / np.sqrt(d // heads)
        att = np.exp(scores - scores.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        ctx = (att @ v).transpose(1, 0, 2).reshape(n, d)
        x = _layer_norm(x + dense(ctx, "attention.output.dense"), w[p + "attention.output.LayerNorm.weight"],
                        w[p + "attention.output.LayerNorm.bias"], eps)  # fmt: skip
        ff = dense(_gelu(dense(x, "intermediate.dense")), "output.dense")
        x = _layer_norm(x + ff, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
    pooled = x.mean(0)
    return pooled / np.linalg.norm(pooled)


def test_it_converts_minilm_once_into_a_bert_gguf():
    path = assets.minilm()
    first = path.stat().st_mtime_ns
    assert assets.minilm() == path and path.stat().st_mtime_ns == first  # cached: not converted again
    reader = gguf.GGUFReader(path)
    fields = {name: field for name, field in reader.fields.items()}
    assert bytes(fields["general.architecture"].parts[-1]).decode() == "bert"
    assert int(fields["bert.embedding_length"].parts[-1][0]) == 384
    assert int(fields["bert.pooling_type"].parts[-1][0]) == int(gguf.PoolingType.MEAN)
    assert bool(fields["bert.attention.causal"].parts[-1][0]) is False
    tensors = {t.name: t for t in reader.tensors}
    assert len(tensors) == 5 + 16 * 6  # embeddings (3 + norm) and 16 per layer
    assert tensors["token_embd.weight"].tensor_type == gguf.GGMLQuantizationType.F16
    assert tensors["position_embd.weight"].tensor_type == gguf.GGMLQuantizationType.F32
    assert tensors["blk.5.layer_output_norm.weight"].tensor_type == gguf.GGMLQuantizationType.F32


def test_it_converts_to_the_same_bytes_each_time(source, tmp_path):
    again = convert_bert(source, tmp_path / "again.gguf")
    assert again.read_bytes() == assets.minilm().read_bytes()
    assert not list(tmp_path.glob("*.part"))
    assert oct(again.stat().st_mode & 0o777) == oct(0o644)


def test_it_refuses_a_model_that_is_not_bert(source, tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    config = json.loads((source / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "model_type": "llama"}))
    with pytest.raises(ValueError, match="expected 'bert'"):
        convert_bert(model, tmp_path / "out.gguf")
    assert os.listdir(tmp_path) == ["model"]


def test_it_serves_the_reference_embeddings(server, source):
    reply = httpx.post(
        f"{server}/v1/embeddings", json={"model": "all-minilm-l6-v2", "input": SENTENCES}, timeout=60
    ).json()
    served = [np.array(item["embedding"]) for item in sorted(reply["data"], key=lambda d: d["index"])]
    assert [len(v) for v in served] == [384] * len(SENTENCES)
    for text, vector in zip(SENTENCES, served, strict=True):
        expected = reference_embedding(source, text)
        assert float(np.linalg.norm(vector)) == pytest.approx(1.0, abs=1e-3)
        assert float(vector @ expected) > 0.999, text  # f16 weights: close, not equal
    # Unrelated sentences are further apart than the two about eating.
    assert served[0] @ served[1] > served[0] @ served[2] + 0.5
    # [CLS] + words + [SEP]: the prompt tokens are the model's own count.
    assert reply["usage"]["prompt_tokens"] == sum(len(s.split()) + 2 for s in SENTENCES)
