"""Convert a sentence-transformers BERT model (all-MiniLM-L6-v2) to GGUF for ``llama-server --embeddings``.

Torch-free: llama.cpp's own ``convert_hf_to_gguf.py`` needs torch and transformers (a 200 MB wheel and
more) only to read the weights and the tokenizer. Here ``model.safetensors`` is read with numpy (the
format is an 8-byte header length, a JSON header and raw little-endian arrays), the WordPiece vocabulary
from ``vocab.txt`` and ``tokenizer.json``, and the file is written with ``gguf`` the way the converter
writes a ``BertModel`` (same keys, tensor names, types and "phantom space" vocabulary; f16 matrices,
f32 vectors, norms, position and token-type embeddings), so llama.cpp reads it the same.

Usage::

    python -m inference.localmodels.bert_gguf MODEL_DIR OUTPUT_PATH
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gguf
import numpy as np

__all__ = ["convert_bert", "read_safetensors"]

_SAFETENSORS_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32}
# Not needed for embeddings (llama.cpp's converter drops them as well).
_DROPPED = ("embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias")
# Kept in f32 whatever their rank (as llama.cpp's converter does).
_F32_TENSORS = (gguf.MODEL_TENSOR.POS_EMBD, gguf.MODEL_TENSOR.TOKEN_TYPES)
_POOLING = {
    "pooling_mode_mean_tokens": gguf.PoolingType.MEAN,
    "pooling_mode_cls_token": gguf.PoolingType.CLS,
    "pooling_mode_lasttoken": gguf.PoolingType.LAST,
}


def read_safetensors(path: Path) -> Iterator[tuple[str, np.ndarray[Any, Any]]]:
    """(name, array) for every tensor of a ``.safetensors`` file, memory-mapped."""
    with open(path, "rb") as f:
        (header_len,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(header_len))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + header_len)
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _SAFETENSORS_DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError(f"{path.name}: tensor {name} is {info['dtype']}, which this converter does not read")
        start, end = info["data_offsets"]
        yield name, data[start:end].view(dtype).reshape(info["shape"])


def _pooling_type(model_dir: Path) -> gguf.PoolingType | None:
    modules_file = model_dir / "modules.json"
    if not modules_file.is_file():
        return None
    for module in json.loads(modules_file.read_text()):
        if str(module.get("type", "")).endswith("Pooling"):
            config = json.loads((model_dir / module["path"] / "config.json").read_text())
            for key, pooling in _POOLING.items():
                if config.get(key):
                    return pooling
    return None


def _vocab(model_dir: Path, vocab_size: int) -> tuple[list[str], list[gguf.TokenType]]:
    """The WordPiece vocabulary in llama.cpp's "phantom space" form: a word start is prefixed with
    U+2581, a continuation (``##x``) loses its marker, special tokens stay as they are."""
    words = (model_dir / "vocab.txt").read_text(encoding="utf-8").split("\n")
    if words and words[-1] == "":
        words.pop()
    special: set[str] = set()
    tokenizer_file = model_dir / "tokenizer.json"
    if tokenizer_file.is_file():
        special = {t["content"] for t in json.loads(tokenizer_file.read_text()).get("added_tokens", []) if t["special"]}
    tokens: list[str] = []
    types: list[gguf.TokenType] = []
    for i in range(vocab_size):
        if i >= len(words):
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
        elif words[i] in special:
            tokens.append(words[i])
            types.append(gguf.TokenType.CONTROL)
        else:
            word = words[i]
            tokens.append(word[2:] if word.startswith("##") else "\u2581" + word)
            types.append(gguf.TokenType.NORMAL)
    return tokens, types


def convert_bert(model_dir: Path, output: Path, name: str = "all-MiniLM-L6-v2") -> Path:
    """Write ``output`` (atomically) from a BERT sentence-transformers directory."""
    config = json.loads((model_dir / "config.json").read_text())
    if config.get("model_type") != "bert":
        raise ValueError(f"{model_dir}: model_type {config.get('model_type')!r}, expected 'bert'")
    n_layer = int(config["num_hidden_layers"])
    arch = gguf.MODEL_ARCH.BERT
    names = gguf.get_tensor_name_map(arch, n_layer)
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=output.parent, prefix=output.name, suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        writer = gguf.GGUFWriter(tmp, gguf.MODEL_ARCH_NAMES[arch])
        writer.add_name(name)
        writer.add_block_count(n_layer)
        writer.add_context_length(int(config["max_position_embeddings"]))
        writer.add_embedding_length(int(config["hidden_size"]))
        writer.add_feed_forward_length(int(config["intermediate_size"]))
        writer.add_head_count(int(config["num_attention_heads"]))
        writer.add_layer_norm_eps(float(config["layer_norm_eps"]))
        writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
        writer.add_causal_attention(False)
        pooling = _pooling_type(model_dir)
        if pooling is not None:
            writer.add_pooling_type(pooling)

        tokens, types = _vocab(model_dir, int(config["vocab_size"]))
        writer.add_token_type_count(int(config.get("type_vocab_size", 1)))
        writer.add_tokenizer_model("bert")
        # bert-base-uncased's WordPiece, as llama.cpp's converter names it (by a hash of its output).
        writer.add_tokenizer_pre("bert-bge")
        writer.add_token_list(tokens)
        writer.add_token_types(types)
        gguf.SpecialVocab(model_dir, n_vocab=len(tokens)).add_to_gguf(writer)

        for hf_name, array in read_safetensors(model_dir / "model.safetensors"):
            hf_name = hf_name.removeprefix("bert.")
            if hf_name in _DROPPED or hf_name.startswith("cls."):
                continue
            new_name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
            if new_name is None:
                raise ValueError(f"{model_dir}: no GGUF name for tensor {hf_name}")
            keep_f32 = (
                array.ndim <= 1
                or new_name.endswith("_norm.weight")
                or not new_name.endswith(".weight")
                or any(new_name == gguf.TENSOR_NAMES[t] + ".weight" for t in _F32_TENSORS)
            )
            writer.add_tensor(new_name, np.ascontiguousarray(array, dtype=np.float32 if keep_f32 else np.float16))

        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        tmp.chmod(0o644)
        tmp.replace(output)
    finally:
        tmp.unlink(missing_ok=True)
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("output", type=Path)
    args = parser.parse_args(argv)
    print(convert_bert(args.model_dir, args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
