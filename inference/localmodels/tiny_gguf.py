"""Generate a tiny, random, llama-architecture GGUF model for fast tests with llama.cpp's ``llama-server``.

The model is meaningless (random weights from a fixed numpy seed, so the same file bytes on every run)
but small (~0.4 MB, f16, 64-dim embeddings, 2 layers) and loads in well under a second, which makes it
suitable for exercising a real ``llama-server`` process end to end in tests.

Its one useful property is **deterministic completion lengths**: the output head is built so that the
model can only ever emit printable NORMAL vocabulary pieces and never a control token (``</s>``,
``<|im_end|>``, ...) or a raw byte token.  It therefore never produces an end-of-generation token, and
every completion runs exactly to ``max_tokens`` (``usage.completion_tokens == max_tokens``,
``finish_reason == "length"``).  With temperature 0 the same prompt always yields the same text.

How the suppression works: channel 0 of the residual stream is a constant positive value (it is set in
every token embedding and no layer writes to it), so after the final RMS norm it is always > 0.  The
output-head rows of all non-NORMAL tokens are zero except for a large negative weight on that channel,
which gives those tokens a hugely negative logit for every input, so they are never picked, greedily or
by sampling.

The vocabulary is SentencePiece-style (``tokenizer.ggml.model = "llama"``): the control tokens
``<unk> <s> </s> <|im_start|> <|im_end|>``, the 256 byte-fallback tokens ``<0x00>``..``<0xFF>`` (so any
UTF-8 text tokenizes), then printable pieces (common English words, letters, digits, punctuation).  A
ChatML chat template is embedded.

Usage::

    python -m inference.localmodels.tiny_gguf OUTPUT_PATH
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile

import gguf
import numpy as np

__all__ = ["CHAT_TEMPLATE", "write_tiny_gguf"]

SEED = 1234
N_EMBD = 64
N_LAYER = 2
N_HEAD = 4
N_HEAD_KV = 4
N_FF = 128
N_CTX = 2048
RMS_EPS = 1e-5
ROPE_FREQ_BASE = 10000.0

# Value of the constant residual channel 0 and the (negative) output-head weight on it for suppressed tokens.
_CONST_CHANNEL_VALUE = 4.0
_SUPPRESS_WEIGHT = -1000.0

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_CONTROL_TOKENS: tuple[str, ...] = ("<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>")
UNK_ID = 0
BOS_ID = 1
EOS_ID = 4  # <|im_end|>
PAD_ID = 2  # </s>

_WORDS: tuple[str, ...] = (
    "the", "be", "to", "of", "and", "a", "in", "that", "have", "I", "it", "for", "not", "on", "with",
    "he", "as", "you", "do", "at", "this", "but", "his", "by", "from", "they", "we", "say", "her", "she",
    "or", "an", "will", "my", "one", "all", "would", "there", "their", "what", "so", "up", "out", "if",
    "about", "who", "get", "which", "go", "me", "when", "make", "can", "like", "time", "no", "just", "him",
    "know", "take", "people", "into", "year", "your", "good", "some", "could", "them", "see", "other",
    "than", "then", "now", "look", "only", "come", "its", "over", "think", "also", "back", "after", "use",
    "two", "how", "our", "work", "first", "well", "way", "even", "new", "want", "because", "any", "these",
    "give", "day", "most", "us", "is", "are", "was", "were", "hello", "world", "test", "model", "token",
    "Hello", "The", "This", "It", "We", "You", "yes", "ok",
)  # fmt: skip

_PUNCTUATION = ".,!?;:'\"-()[]/"


def _build_vocab() -> tuple[list[str], list[float], list[int]]:
    """Return (tokens, scores, token_types) for the SentencePiece-style vocabulary."""
    tokens: list[str] = []
    types: list[int] = []
    for i, tok in enumerate(_CONTROL_TOKENS):
        tokens.append(tok)
        types.append(int(gguf.TokenType.UNKNOWN if i == UNK_ID else gguf.TokenType.CONTROL))
    for b in range(256):
        tokens.append(f"<0x{b:02X}>")
        types.append(int(gguf.TokenType.BYTE))

    pieces: list[str] = ["\u2581"]
    singles = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    singles += [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    singles += [str(d) for d in range(10)]
    singles += list(_PUNCTUATION)
    pieces += singles
    pieces += ["\u2581" + s for s in singles]
    # Every prefix of "▁word" so the SentencePiece bigram merges can actually reach whole words.
    for word in _WORDS:
        spelled = "\u2581" + word
        pieces += [spelled[:n] for n in range(2, len(spelled) + 1)]
        pieces += [word[:n] for n in range(2, len(word) + 1)]
    seen: set[str] = set(tokens)
    for piece in pieces:
        if piece not in seen:
            seen.add(piece)
            tokens.append(piece)
            types.append(int(gguf.TokenType.NORMAL))

    scores = [0.0 if t != gguf.TokenType.NORMAL else float(len(tok)) for tok, t in zip(tokens, types, strict=False)]
    return tokens, scores, types


def _build_tensors(token_types: list[int]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(SEED)
    n_vocab = len(token_types)
    head_dim = N_EMBD // N_HEAD
    n_embd_kv = head_dim * N_HEAD_KV

    def rand(*shape: int, scale: float) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    tensors: dict[str, np.ndarray] = {}
    # numpy shapes are (rows=out_features, cols=in_features); gguf stores them reversed as ggml expects.
    tok_embd = rand(n_vocab, N_EMBD, scale=1.0)
    tok_embd[:, 0] = _CONST_CHANNEL_VALUE
    tensors["token_embd.weight"] = tok_embd

    for i in range(N_LAYER):
        p = f"blk.{i}"
        tensors[f"{p}.attn_norm.weight"] = np.ones(N_EMBD, dtype=np.float32)
        tensors[f"{p}.attn_q.weight"] = rand(N_EMBD, N_EMBD, scale=N_EMBD**-0.5)
        tensors[f"{p}.attn_k.weight"] = rand(n_embd_kv, N_EMBD, scale=N_EMBD**-0.5)
        tensors[f"{p}.attn_v.weight"] = rand(n_embd_kv, N_EMBD, scale=N_EMBD**-0.5)
        attn_out = rand(N_EMBD, N_EMBD, scale=0.5 * N_EMBD**-0.5)
        attn_out[0, :] = 0.0  # never write to the constant channel
        tensors[f"{p}.attn_output.weight"] = attn_out
        tensors[f"{p}.ffn_norm.weight"] = np.ones(N_EMBD, dtype=np.float32)
        tensors[f"{p}.ffn_gate.weight"] = rand(N_FF, N_EMBD, scale=N_EMBD**-0.5)
        tensors[f"{p}.ffn_up.weight"] = rand(N_FF, N_EMBD, scale=N_EMBD**-0.5)
        ffn_down = rand(N_EMBD, N_FF, scale=0.5 * N_FF**-0.5)
        ffn_down[0, :] = 0.0  # never write to the constant channel
        tensors[f"{p}.ffn_down.weight"] = ffn_down

    tensors["output_norm.weight"] = np.ones(N_EMBD, dtype=np.float32)
    output = rand(n_vocab, N_EMBD, scale=1.0)
    output[:, 0] = 0.0
    suppressed = np.array([t != gguf.TokenType.NORMAL for t in token_types])
    output[suppressed, :] = 0.0
    output[suppressed, 0] = _SUPPRESS_WEIGHT
    tensors["output.weight"] = output
    return tensors


def write_tiny_gguf(path: str | os.PathLike[str]) -> pathlib.Path:
    """Write the tiny deterministic GGUF model to ``path`` (atomically) and return the path."""
    out = pathlib.Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tokens, scores, token_types = _build_vocab()
    tensors = _build_tensors(token_types)

    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    tmp = pathlib.Path(tmp_name)
    try:
        writer = gguf.GGUFWriter(tmp, "llama")
        writer.add_name("tiny-random-llama")
        writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
        writer.add_context_length(N_CTX)
        writer.add_embedding_length(N_EMBD)
        writer.add_block_count(N_LAYER)
        writer.add_feed_forward_length(N_FF)
        writer.add_head_count(N_HEAD)
        writer.add_head_count_kv(N_HEAD_KV)
        writer.add_rope_dimension_count(N_EMBD // N_HEAD)
        writer.add_rope_freq_base(ROPE_FREQ_BASE)
        writer.add_layer_norm_rms_eps(RMS_EPS)
        writer.add_vocab_size(len(tokens))

        writer.add_tokenizer_model("llama")
        writer.add_tokenizer_pre("default")
        writer.add_token_list(tokens)
        writer.add_token_scores(scores)
        writer.add_token_types(token_types)
        writer.add_bos_token_id(BOS_ID)
        writer.add_eos_token_id(EOS_ID)
        writer.add_unk_token_id(UNK_ID)
        writer.add_pad_token_id(PAD_ID)
        writer.add_add_bos_token(True)
        writer.add_add_eos_token(False)
        writer.add_add_space_prefix(True)
        writer.add_chat_template(CHAT_TEMPLATE)

        for name, data in tensors.items():
            # Matrices in f16 (halves the file); 1-D norm weights stay f32 like llama.cpp's converters do.
            writer.add_tensor(name, data.astype(np.float16) if data.ndim == 2 else data)

        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a tiny random llama GGUF model for llama-server tests.")
    parser.add_argument("output", help="path of the .gguf file to write")
    args = parser.parse_args(argv)
    out = write_tiny_gguf(args.output)
    print(f"wrote {out} ({out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
