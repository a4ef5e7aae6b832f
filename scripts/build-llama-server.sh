#!/usr/bin/env bash
# Builds llama.cpp's C++ llama-server offline from the sources vendored in the
# llama-cpp-python sdist on PyPI, and caches the binary by version, so later runs
# take a second. Prints the binary's path on stdout (progress goes to stderr).
set -euo pipefail

VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
CACHE="${LLMAAS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/llmaas}"
OUT="$CACHE/llama-server-$VERSION/llama-server"
PIP="${PIP:-python3 -m pip}"

if [ -x "$OUT" ] && "$OUT" --version >/dev/null 2>&1; then
  echo "$OUT"
  exit 0
fi

for tool in cmake g++ make; do
  command -v "$tool" >/dev/null || { echo "build-llama-server: '$tool' is missing (apt-get install cmake g++ make)" >&2; exit 1; }
done

work="$(mktemp -d "${TMPDIR:-/tmp}/llama-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
echo "==> downloading the llama-cpp-python $VERSION sdist (vendors llama.cpp)" >&2
$PIP download -q --no-deps --no-binary :all: "llama-cpp-python==$VERSION" -d "$work" >&2
tar -xzf "$work"/llama_cpp_python-"$VERSION".tar.gz -C "$work"
src="$work/llama_cpp_python-$VERSION/vendor/llama.cpp"

echo "==> building llama-server (about 5 minutes on 2 cores; cached afterwards in $CACHE)" >&2
# LLAMA_USE_PREBUILT_UI=OFF: the default downloads a web UI at build time, which fails offline.
cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF \
  -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TESTS=OFF \
  -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF \
  -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF >"$work/cmake.log" 2>&1 \
  || { tail -40 "$work/cmake.log" >&2; exit 1; }
cmake --build "$work/build" --target llama-server -j "$(nproc)" 2>&1 \
  | grep --line-buffered -E '^\[ *[0-9]+%\]' | awk 'NR % 20 == 0 {print "    " $1 $2; fflush()}' >&2
[ -x "$work/build/bin/llama-server" ] || { echo "build-llama-server: the build produced no binary" >&2; exit 1; }

mkdir -p "$(dirname "$OUT")"
# The gguf-py package and the HF->GGUF converter come along: they generate and convert models.
cp -r "$src/gguf-py" "$(dirname "$OUT")/gguf-py"
install -m 0755 "$work/build/bin/llama-server" "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "$OUT"
