# syntax=docker/dockerfile:1.7
# The one public origin: nginx with the portal's build and the public route map rendered from
# inference/proxy/routes.py (stack/nginx.py). Upstreams are service names (web, litellm);
# override with LLMAAS_NGINX_DJANGO / LLMAAS_NGINX_LITELLM build args.
#   docker buildx bake edge
ARG NODE_IMAGE=node:20-bookworm-slim
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NGINX_IMAGE=nginx:1.27-bookworm

FROM ${NODE_IMAGE} AS portal
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build

FROM ${PYTHON_IMAGE} AS config
ARG LLMAAS_NGINX_DJANGO=web:8001
ARG LLMAAS_NGINX_LITELLM=litellm:4000
WORKDIR /src
COPY deploy/nginx.conf.template deploy/
COPY stack/__init__.py stack/nginx.py stack/
COPY inference/__init__.py inference/
COPY inference/proxy/__init__.py inference/proxy/routes.py inference/proxy/
RUN python -m stack.nginx --out /nginx.conf --listen 8080 --django "$LLMAAS_NGINX_DJANGO" \
      --litellm "$LLMAAS_NGINX_LITELLM" --state-dir /var/cache/llmaas-nginx --portal-dist /usr/share/llmaas/portal

FROM ${NGINX_IMAGE}
COPY --from=portal /src/frontend/dist /usr/share/llmaas/portal
COPY --from=config /nginx.conf /etc/nginx/llmaas.conf
# curl for the health check; the state dir holds the pid file and temp files of an unprivileged nginx.
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends curl \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/cache/llmaas-nginx/nginx \
 && chown -R nginx:nginx /var/cache/llmaas-nginx
USER nginx
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD curl -fsS -o /dev/null http://127.0.0.1:8080/ || exit 1
CMD ["nginx", "-c", "/etc/nginx/llmaas.conf", "-g", "daemon off;"]
