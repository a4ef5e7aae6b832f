"""``python -m stack up``: the whole local stack in the foreground; Ctrl-C stops everything."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from stack.processes import StackError
from stack.stack import ROOT, Stack, StackConfig

BANNER = """
────────────────────────────────────────────────────────────────────────
 LLMaaS is up.

 Portal / API   {url}/
 Over TLS       {tls}
 Admin          {url}/admin/
   login        {email}
   password     {password}

 Call /v1 with the OpenAI SDK (pip install openai):

python - <<'PY'
from openai import OpenAI
client = OpenAI(base_url="{url}/v1", api_key="{key}")
reply = client.chat.completions.create(
    model="{model}", messages=[{{"role": "user", "content": "Say hello in five words."}}], max_tokens=32
)
print(reply.choices[0].message.content)
PY

 Logs: {logs}        Ctrl-C stops everything.
────────────────────────────────────────────────────────────────────────
"""


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m stack")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="bring up the whole local stack in the foreground")
    up.add_argument("--state-dir", default=str(ROOT / ".state"))
    args = parser.parse_args()

    config = StackConfig.dev(Path(args.state_dir).resolve())
    stack = Stack(config)
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # starting up: stop like Ctrl-C
    try:
        print("==> preparing the database, catalog, admin login and demo key", file=sys.stderr, flush=True)
        stack.prepare()
        print(
            "==> starting llama-server, Django, Celery worker + beat, LiteLLM, the usage shipper and nginx",
            file=sys.stderr,
            flush=True,
        )
        for proc in stack.processes():
            stack.supervisor.start(proc)
        stack.supervisor.wait_ready(timeout=300)
    except (StackError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        stack.down()
        return 1
    except KeyboardInterrupt:
        print("==> interrupted; stopping", file=sys.stderr)
        stack.down()
        return 130
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    model = config.models[0].name if config.models else "smollm2"
    print(
        BANNER.format(
            url=config.public_url,
            tls=f"{config.public_tls_url}/  (self-signed: {stack.tls_files[0]})" if config.public_tls_port else "off",
            email=stack.state["admin_email"],
            password=stack.state["admin_password"],
            key=stack.state["demo_key"],
            model=model,
            logs=config.state_dir / "logs",
        ),
        flush=True,
    )
    exit_code = 0
    while not stopping:
        dead = stack.supervisor.dead()
        if dead:
            for proc in dead:
                print(f"error: {proc.name} exited; last lines of {proc.log}:\n{proc.tail()}", file=sys.stderr)
            exit_code = 1
            break
        time.sleep(0.5)
    print("==> stopping", file=sys.stderr, flush=True)
    stack.down()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
