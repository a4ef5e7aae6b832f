import logging
import signal
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from inference.lifecycle.agent import AgentConfig, FleetAgent
from llmaas.env import envstr

log = logging.getLogger("inference.lifecycle.agent")


def positive(value: str) -> float:
    """A number of seconds above 0 (argparse turns the ValueError into a usage error)."""
    seconds = float(value)
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(value)
    return seconds


class Command(BaseCommand):
    help = (
        "Run the fleet agent: start managed backends' processes on demand, stop them when idle or "
        "outside their windows, restart after a GPU out-of-memory with lower concurrency (until SIGTERM)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--host",
            default=envstr("LLMAAS_FLEET_HOST", ""),
            help="manage only the backends on this host (default: every managed backend)",
        )
        parser.add_argument(
            "--log-dir",
            default=envstr("LLMAAS_FLEET_LOG_DIR", "/tmp"),  # noqa: S108 - the stack passes its own
            help="where each process's output goes (fleet-<backend>.log)",
        )
        parser.add_argument("--tick", type=float, default=0.25, help="seconds between looks at start requests")
        parser.add_argument(
            "--stop-grace", type=float, default=1.0, help="seconds between publishing 'stopping' and the last look"
        )
        parser.add_argument(
            "--retry-first", type=positive, default=10.0, help="seconds before a failed start is tried again"
        )
        parser.add_argument(
            "--retry-most", type=positive, default=300.0, help="the pause doubles with each failed start, up to this"
        )

    def handle(self, *args: Any, **o: Any) -> None:
        config = AgentConfig(
            host=o["host"] or None,
            log_dir=Path(o["log_dir"]),
            tick=o["tick"],
            stop_grace=o["stop_grace"],
            retry_first=o["retry_first"],
            retry_most=max(o["retry_most"], o["retry_first"]),
        )
        agent = FleetAgent(config)

        def stop(signum: int, frame: Any) -> None:
            agent.stopped.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        log.info("fleet agent: managing the backends of %s", o["host"] or "every host")
        agent.run()
