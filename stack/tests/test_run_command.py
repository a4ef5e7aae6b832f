"""The README's run command, as a newcomer runs it: empty state dir, fresh database."""

import os
import re
import signal
import subprocess
import sys
import time
import uuid

import pytest

from stack.processes import free_port, port_open
from stack.stack import ROOT, delete_vhost, drop_database, ensure_vhost

pytestmark = pytest.mark.stack


def test_the_run_command_prints_a_snippet_that_works_and_ctrl_c_stops_everything(tmp_path):
    run = uuid.uuid4().hex[:8]
    vhost, db_url = f"llmaas_smoke_{run}", f"postgres://postgres@127.0.0.1:5432/llmaas_smoke_{run}"
    ensure_vhost(vhost)
    names = ("PUBLIC", "PUBLIC_TLS", "DJANGO", "WEBHOOK", "LITELLM", "CHAT", "EMBEDDINGS")
    ports = {name: free_port() for name in names}
    env = {
        **os.environ,
        "LLMAAS_DATABASE_URL": db_url,
        "LLMAAS_REDIS_PREFIX": f"llmaas-smoke-{run}",
        "LLMAAS_CELERY_BROKER_URL": f"amqp://guest:guest@127.0.0.1:5672/{vhost}",
        **{f"LLMAAS_{name}_PORT": str(port) for name, port in ports.items()},
    }
    state = tmp_path / "state"
    proc = subprocess.Popen(
        [str(ROOT / "bin" / "dev"), "--state-dir", str(state)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 600
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith(" Logs:"):
                break
        output = "".join(lines)
        match = re.search(r"python - <<'PY'\n(.*?)\nPY\n", output, re.S)
        assert match, f"no snippet in the output:\n{output[-3000:]}"
        assert f"http://127.0.0.1:{ports['PUBLIC']}/admin/" in output
        assert re.search(r"login\s+\S+@\S+", output) and re.search(r"password\s+\S+", output)
        assert (state / "demo.json").stat().st_mode & 0o077 == 0  # the secret file is private

        reply = subprocess.run([sys.executable, "-c", match.group(1)], capture_output=True, text=True, timeout=120)
        assert reply.returncode == 0, reply.stderr
        assert reply.stdout.strip()

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=90) == 0
        for port in ports.values():
            assert not port_open(port), f"port {port} still open after Ctrl-C"
    finally:
        if proc.poll() is None:
            proc.kill()
        drop_database(db_url)
        delete_vhost(vhost)
