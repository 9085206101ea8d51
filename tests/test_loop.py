"""The event loop of ``serve`` and ``worker``: uvloop where it imports, asyncio when told
(EVENT_LOOP), and asyncio again where uvloop is missing."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from server.loop import run

ROOT = Path(__file__).resolve().parents[1]


async def running_loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_auto_and_uvloop_run_on_uvloop_and_asyncio_turns_it_off() -> None:
    assert run(running_loop_module(), "auto").startswith("uvloop")
    assert run(running_loop_module(), "uvloop").startswith("uvloop")
    assert run(running_loop_module(), "asyncio").startswith("asyncio")


def test_without_uvloop_auto_falls_back_and_uvloop_says_what_is_missing() -> None:
    # A fresh interpreter where `import uvloop` fails, as on a platform without it.
    probe = (
        "import sys; sys.modules['uvloop'] = None\n"
        "from server.loop import loop_factory\n"
        "print(loop_factory('auto')[0])\n"
        "try:\n"
        "    loop_factory('uvloop')\n"
        "except RuntimeError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    fallback, refusal = done.stdout.splitlines()
    assert fallback == "asyncio"
    assert "EVENT_LOOP=uvloop but uvloop is not installed" in refusal


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.mark.parametrize(("choice", "expected"), [("auto", "on uvloop"), ("asyncio", "on asyncio")])
def test_serve_says_which_loop_it_runs_on(choice: str, expected: str) -> None:
    env = {**os.environ, "APP_ENV": "development", "EVENT_LOOP": choice}
    with subprocess.Popen(
        [sys.executable, "-m", "server", "serve", "--port", str(free_port())],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    ) as server:
        try:
            assert server.stderr is not None
            for line in server.stderr:  # the start-up line comes before the app is built
                if "serving on" in line:
                    assert expected in line
                    break
            else:
                pytest.fail(f"serve exited ({server.wait()}) without saying where it serves")
        finally:
            server.terminate()
            server.wait(timeout=30)
