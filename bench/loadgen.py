"""Load from a separate process: closed-loop clients on loopback, bounded in count and time.

python -m bench.loadgen URL KEY BODY_JSON --concurrency C (--requests N | --seconds S) [--stream]
Prints one JSON object: latencies (ms, and time to first byte for streams), errors, rps.
"""

import argparse
import asyncio
import json
import sys
import time

import httpx


async def run(
    url: str, key: str, body: dict, concurrency: int, requests: int | None, seconds: float | None, rate: float | None
) -> dict:
    latencies: list[float] = []
    ttfb: list[float] = []
    errors: dict[str, int] = {}
    issued = 0
    deadline = time.monotonic() + (seconds if seconds else 3600)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    payload = json.dumps(body).encode()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        paced_start = time.monotonic()

        async def worker() -> None:
            nonlocal issued
            while time.monotonic() < deadline and (requests is None or issued < requests):
                issued += 1
                if rate:  # open-loop pacing: request i starts at i / rate
                    wait = paced_start + issued / rate - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                start = time.perf_counter()
                try:
                    async with client.stream("POST", url, content=payload, headers=headers) as response:
                        first = None
                        async for _ in response.aiter_raw():
                            if first is None:
                                first = time.perf_counter()
                        if response.status_code != 200:
                            errors[str(response.status_code)] = errors.get(str(response.status_code), 0) + 1
                            continue
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                    continue
                end = time.perf_counter()
                latencies.append((end - start) * 1000)
                ttfb.append(((first or end) - start) * 1000)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return {
        "latencies_ms": latencies,
        "ttfb_ms": ttfb,
        "errors": errors,
        "elapsed_s": elapsed,
        "rps": len(latencies) / elapsed if elapsed else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("key")
    parser.add_argument("body")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--requests", type=int)
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--rate", type=float, help="requests per second in total (paced)")
    args = parser.parse_args()
    if args.requests is None and args.seconds is None:
        sys.exit("give --requests or --seconds")
    body = json.loads(args.body)
    result = asyncio.run(run(args.url, args.key, body, args.concurrency, args.requests, args.seconds, args.rate))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
