"""Serving: one process, or N worker processes sharing one port (SO_REUSEPORT)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import multiprocessing
import os
import signal
import sys
import tempfile
from pathlib import Path
from types import FrameType

from aiohttp import web
from pydantic import ValidationError

from config.settings import Settings
from server.app import create_app
from server.logs import configure_logging
from server.loop import loop_factory, run
from server.worker import jobs_in_process_ctx

log = logging.getLogger("jiangxin.serve")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        # Not str(exc): it quotes the input values, and those include secrets.
        problems = "\n".join(
            f"  {'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        )
        sys.exit(f"configuration error:\n{problems}")


async def _serve_until_signalled(
    settings: Settings, host: str, port: int, reuse_port: bool, with_jobs: bool
) -> None:
    app = create_app(settings)
    if with_jobs:
        app.cleanup_ctx.append(jobs_in_process_ctx)
    runner = web.AppRunner(
        app,
        shutdown_timeout=settings.shutdown_timeout_s,
        access_log=None,  # our middleware logs requests, as JSON, without query strings
    )
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        site = web.TCPSite(runner, host, port, reuse_port=reuse_port, backlog=1024)
        await site.start()
        await stop.wait()
        log.info("signal received: no new connections, draining in-flight requests")
    finally:
        # Not web.run_app: its signal path cancels the task that drains, so in-flight
        # requests would be cut. Here cleanup closes the listener, waits for running
        # handlers up to SHUTDOWN_TIMEOUT_S, then closes the resources.
        await runner.cleanup()


def _run_process(
    settings: Settings, host: str, port: int, reuse_port: bool, with_jobs: bool
) -> None:
    configure_logging(settings.log_level)
    run(_serve_until_signalled(settings, host, port, reuse_port, with_jobs), settings.event_loop)


def serve(host: str, port: int, workers: int, with_jobs: bool = False) -> None:
    """Serve with ``workers`` processes; ``with_jobs`` runs the job worker in each."""
    settings = load_settings()
    if settings.app_env == "development" and not is_loopback(host):
        sys.exit(
            f"APP_ENV=development serves on a loopback address only, not {host!r}: its "
            "dev:<name> sign-ins and development secret must not be reachable from the "
            "network (use --host 127.0.0.1, or APP_ENV=production with real secrets)"
        )
    configure_logging(settings.log_level)
    loop_name, _ = loop_factory(settings.event_loop)
    log.info("serving on http://%s:%d with %d worker(s) on %s", host, port, workers, loop_name)
    if workers == 1:
        _run_process(settings, host, port, reuse_port=False, with_jobs=with_jobs)
        return
    # N processes share the port through SO_REUSEPORT; the kernel balances connections.
    with tempfile.TemporaryDirectory(prefix="jiangxin-metrics-") as own_dir:
        metrics_dir = Path(os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", own_dir))
        for stale in metrics_dir.glob("*.db"):  # samples of a previous run would add up
            stale.unlink()
        context = multiprocessing.get_context("spawn")
        started: list[multiprocessing.context.SpawnProcess] = []
        stopping = False

        def forward(signum: int, _frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True  # a signal during start-up also stops the workers not yet started
            for child in started:
                if child.is_alive() and child.pid:
                    os.kill(child.pid, signum)

        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGINT, forward)
        for index in range(workers):
            if stopping:
                break
            child = context.Process(
                target=_run_process,
                args=(settings, host, port, True, with_jobs),
                name=f"worker-{index}",
            )
            child.start()
            started.append(child)
        for child in started:
            child.join()
        if any(c.exitcode not in (0, -signal.SIGTERM) for c in started):
            sys.exit(1)
