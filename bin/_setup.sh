# Sourced by bin/dev and bin/test: installs what is missing, idempotently, with progress.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3.11}"
cd "$ROOT"

step() { printf '==> %s\n' "$*" >&2; }

# LLMAAS_SETUP=venvs (bin/audit): only the two virtualenvs, no system packages, build or services.
SETUP_ALL=1; [ "${LLMAAS_SETUP:-all}" = "venvs" ] && SETUP_ALL=0

need_apt=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_apt+=(nginx-light)
command -v cmake >/dev/null 2>&1 || need_apt+=(cmake)
command -v g++ >/dev/null 2>&1 || need_apt+=(g++)
command -v make >/dev/null 2>&1 || need_apt+=(make)
# The portal: Node (20.19+ for Vite 8) and Debian's Chromium for the real-browser test.
command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
# The deployment checks: docker-compose (v1, Debian) parses docker-compose.dev.yml without an engine.
command -v docker-compose >/dev/null 2>&1 || need_apt+=(docker-compose)
if [ "$SETUP_ALL" -eq 1 ] && [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  step "installing ${need_apt[*]} (apt)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# Pins live in pyproject.toml; a stamp of the venv's own pins skips pip when they did not change
# (so a change to the other venv's pins reinstalls nothing here).
requirements() {  # extras... → the pins of that venv, one per line
  "$PYTHON" - "$@" <<'PY'
import sys, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
groups = sys.argv[1:]
deps = [] if groups == ["proxy"] else list(project["dependencies"])
for group in groups:
    deps += project["optional-dependencies"][group]
print("\n".join(deps))
PY
}
# The virtualenvs' own tools. Python 3.11's venv seeds setuptools 65.5.0, which has known advisories
# (CVE-2022-40897, CVE-2024-6345, CVE-2025-47273: its package index, which nothing here uses), so
# bin/audit would report it: every venv gets a fixed one (the Dockerfiles likewise).
VENV_TOOLS=(pip "setuptools>=78.1.1")
install_venv() {  # venv-dir extras...
  local venv="$1"; shift
  local stamp="$venv/.llmaas-stamp" pins want
  pins="$(requirements "$@")"
  want="$(printf '%s\n' "$pins" "${VENV_TOOLS[@]}" | sha256sum | cut -c1-64) $*"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  [ -x "$venv/bin/python" ] || { step "creating $venv"; "$PYTHON" -m venv "$venv"; }
  step "installing Python packages into $venv ($*)"
  "$venv/bin/python" -m pip install -q --upgrade "${VENV_TOOLS[@]}" >/dev/null
  printf '%s\n' "$pins" > "$venv/requirements.txt"
  "$venv/bin/python" -m pip install -q -r "$venv/requirements.txt"
  echo "$want" > "$stamp"
}

install_venv "$ROOT/.venv" dev
install_venv "$ROOT/.venv-litellm" proxy

# The portal's packages and built assets (frontend/dist, served by nginx), when missing or stale.
[ "$SETUP_ALL" -eq 0 ] || "$ROOT/bin/_frontend.sh" build

# The local services this kind of machine runs; start any that stopped.
ensure_services() {
  if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    step "starting PostgreSQL"; pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    step "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  fi
  if ! (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
    step "starting RabbitMQ"; rabbitmq-server -detached || true
    for _ in $(seq 1 60); do (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null && break; sleep 1; done
  fi
}
[ "$SETUP_ALL" -eq 0 ] || ensure_services
