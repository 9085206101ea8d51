"""scripts/services: its choices as pure functions, and the command itself, run for real.

The command runs against the machine's MongoDB and Redis (MONGODB_URI, REDIS_URL)
with JX_DATA_DIR in a temporary directory, so the checkout's .data is never touched.
One test starts a redis-server of its own through the script and stops it with `down`.
The main paths run the command as a subprocess; the rest call ``main`` in this
process, which has pymongo and redis-py imported already (a subprocess spends most
of its second importing them).
"""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scripts.processes import alive
from scripts.services import (
    FERRETDB,
    MONGO_LAUNCHER,
    MONGOD,
    REDIS_SERVER,
    USAGE,
    MongoChoice,
    MongoFacts,
    RedisChoice,
    RedisFacts,
    ServicesError,
    choose_mongo,
    choose_redis,
    main,
    our_pid,
    parse_port,
    proc_cmdline,
    read_pid,
    redact,
)
from tests.fixtures.app import MONGODB_URI, REDIS_URL

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "services"

# ------------------------------------------------------------------- choices

NO_MONGO = MongoFacts(
    uri_answers=False, mongod=False, java=False, maven=False, launcher_built=False, ferretdb=False
)


def mongo(**available: bool) -> MongoFacts:
    return dataclasses.replace(NO_MONGO, **available)


@pytest.mark.parametrize(
    ("facts", "choice"),
    [
        pytest.param(
            mongo(uri_answers=True, mongod=True, java=True, maven=True, ferretdb=True),
            MongoChoice.URI,
            id="answering MONGODB_URI wins",
        ),
        pytest.param(
            mongo(mongod=True, java=True, maven=True, launcher_built=True, ferretdb=True),
            MongoChoice.MONGOD,
            id="mongod before mongo-java-server",
        ),
        pytest.param(
            mongo(java=True, maven=True, ferretdb=True),
            MongoChoice.MONGO_JAVA_SERVER,
            id="java and maven build mongo-java-server",
        ),
        pytest.param(
            mongo(java=True, launcher_built=True, ferretdb=True),
            MongoChoice.MONGO_JAVA_SERVER,
            id="java and a built launcher need no maven",
        ),
        pytest.param(
            mongo(java=True, ferretdb=True),
            MongoChoice.FERRETDB,
            id="java without maven or launcher: FerretDB",
        ),
        pytest.param(
            mongo(maven=True, launcher_built=True, ferretdb=True),
            MongoChoice.FERRETDB,
            id="no java: FerretDB",
        ),
        pytest.param(NO_MONGO, MongoChoice.NONE, id="nothing at all"),
    ],
)
def test_choose_mongo(facts: MongoFacts, choice: MongoChoice) -> None:
    assert choose_mongo(facts) is choice


@pytest.mark.parametrize(
    ("facts", "choice"),
    [
        pytest.param(
            RedisFacts(url_answers=True, redis_server=True, root=True, apt_get=True),
            RedisChoice.URL,
            id="answering REDIS_URL wins",
        ),
        pytest.param(
            RedisFacts(url_answers=False, redis_server=True, root=False, apt_get=False),
            RedisChoice.START,
            id="installed redis-server",
        ),
        pytest.param(
            RedisFacts(url_answers=False, redis_server=False, root=True, apt_get=True),
            RedisChoice.INSTALL,
            id="root with apt-get installs it",
        ),
        pytest.param(
            RedisFacts(url_answers=False, redis_server=False, root=False, apt_get=True),
            RedisChoice.NOT_INSTALLED,
            id="not root",
        ),
        pytest.param(
            RedisFacts(url_answers=False, redis_server=False, root=True, apt_get=False),
            RedisChoice.NO_APT,
            id="root without apt-get",
        ),
    ],
)
def test_choose_redis(facts: RedisFacts, choice: RedisChoice) -> None:
    assert choose_redis(facts) is choice


# ------------------------------------------------------------------- helpers


@pytest.mark.parametrize("value", ["1", "6390", "65535"])
def test_parse_port_accepts(value: str) -> None:
    assert parse_port("JX_REDIS_PORT", value) == int(value)


@pytest.mark.parametrize("value", ["", "0", "65536", "abc", "-1", " 80", "٣٣"])
def test_parse_port_rejects(value: str) -> None:
    with pytest.raises(ServicesError, match="is not a valid TCP port"):
        parse_port("JX_MONGO_PORT", value)


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("mongodb://u:p%40ss@db1,db2/?replicaSet=rs", "mongodb://***@db1,db2/?replicaSet=rs"),
        ("redis://:secret@cache:6379/0", "redis://***@cache:6379/0"),
        ("mongodb://127.0.0.1:27018/", "mongodb://127.0.0.1:27018/"),
    ],
)
def test_redact(uri: str, shown: str) -> None:
    assert redact(uri) == shown


def test_listens_on_matches_each_servers_command_line() -> None:
    jar = "java -Xmx512m -jar .tools/mongo-java-server/mongo-launcher.jar"
    assert MONGO_LAUNCHER.listens_on(f"{jar} --host 127.0.0.1 --port 27018 --data x.mv ", 27018)
    assert not MONGO_LAUNCHER.listens_on(f"{jar} --host 127.0.0.1 --port 270180 --data x ", 27018)
    ferret = "ferretdb --handler=sqlite --listen-addr=127.0.0.1:27018 --debug-addr=- "
    assert FERRETDB.listens_on(ferret, 27018)
    assert not FERRETDB.listens_on(ferret, 2701)
    assert MONGOD.listens_on("mongod --dbpath d --bind_ip 127.0.0.1 --port 27018 --fork ", 27018)
    # redis-server rewrites its command line; the rest of it is NULs (read as spaces).
    assert REDIS_SERVER.listens_on("redis-server 127.0.0.1:6390      ", 6390)
    assert not REDIS_SERVER.listens_on("redis-server 127.0.0.1:63901     ", 6390)


def test_read_pid_keeps_digits_only(tmp_path: Path) -> None:
    pidfile = tmp_path / "x.pid"
    assert read_pid(pidfile) is None
    pidfile.write_text("")
    assert read_pid(pidfile) is None
    pidfile.write_text(" 1234\n")
    assert read_pid(pidfile) == 1234
    pidfile.write_text("0\n")
    assert read_pid(pidfile) is None


def test_our_pid_checks_the_command_line(tmp_path: Path) -> None:
    pidfile = tmp_path / "x.pid"
    pidfile.write_text(f"{os.getpid()}\n")
    first_arg = proc_cmdline(os.getpid()).split()[0]
    assert our_pid(pidfile, first_arg) == os.getpid()
    assert our_pid(pidfile, "redis-server") is None  # a reused pid is not ours


# --------------------------------------------------------- the command itself


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def services_env(data_dir: Path, **overrides: str | None) -> dict[str, str]:
    """The environment for a run: the machine's services, our own data directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JX_")}
    env.update(MONGODB_URI=MONGODB_URI, REDIS_URL=REDIS_URL, JX_DATA_DIR=str(data_dir))
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run(argv: list[str], env: dict[str, str]) -> Run:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    return Run(done.returncode, done.stdout, done.stderr)


def services(data_dir: Path, *args: str, **overrides: str | None) -> Run:
    """Run scripts/services as the Makefile does."""
    return run([str(SCRIPT), *args], services_env(data_dir, **overrides))


@pytest.fixture
def in_process(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> Callable[..., Run]:
    """Run the command's ``main`` in this process."""

    def call(*args: str, **overrides: str | None) -> Run:
        code = main(list(args), services_env(data_dir, **overrides))
        out, err = capsys.readouterr()
        return Run(code, out, err)

    return call


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on right now."""
    sockets = [socket.create_server(("127.0.0.1", 0)) for _ in range(count)]
    try:
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def test_usage(data_dir: Path, in_process: Callable[..., Run]) -> None:
    bare = services(data_dir)
    assert (bare.returncode, bare.stdout, bare.stderr) == (2, "", USAGE)
    unknown = in_process("start")
    assert (unknown.returncode, unknown.stdout, unknown.stderr) == (2, "", USAGE)
    for flag in ("help", "-h", "--help"):
        asked = in_process(flag)
        assert (asked.returncode, asked.stdout, asked.stderr) == (0, USAGE, "")


def test_bad_port_fails_before_anything(data_dir: Path, in_process: Callable[..., Run]) -> None:
    result = services(data_dir, "up", JX_MONGO_PORT="99999")
    assert result.returncode == 1
    assert result.stderr == "services: error: JX_MONGO_PORT=99999 is not a valid TCP port\n"
    for port in ("abc", "0"):
        result = in_process("down", JX_REDIS_PORT=port)
        assert result.returncode == 1
        assert result.stderr == f"services: error: JX_REDIS_PORT={port} is not a valid TCP port\n"
    assert not data_dir.exists()


def test_before_up(data_dir: Path, in_process: Callable[..., Run]) -> None:
    status = in_process("status")
    assert status.returncode == 1
    missing = f"(no {data_dir / 'services.env'}; run scripts/services up)"
    assert status.stdout.splitlines() == [
        f"MongoDB: not up  {missing}  (ours: none running)",
        f"Redis:   not up  {missing}  (ours: none running)",
    ]
    env = in_process("env")
    assert env.returncode == 1
    assert env.stderr == (
        f"services: error: no {data_dir / 'services.env'} yet; run: scripts/services up\n"
    )


def test_up_uses_answering_urls(data_dir: Path) -> None:
    up = services(data_dir, "up")
    assert up.returncode == 0, up.stderr
    assert up.stderr.splitlines() == [
        f"services: MongoDB: using MONGODB_URI from the environment: {MONGODB_URI}"
        " (started nothing)",
        f"services: Redis: using REDIS_URL from the environment: {REDIS_URL} (started nothing)",
    ]
    written = f"MONGODB_URI={MONGODB_URI}\nREDIS_URL={REDIS_URL}\n"
    assert (data_dir / "services.env").read_text() == written

    status = services(data_dir, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert status.stdout.splitlines() == [
        f"MongoDB: up      {MONGODB_URI}  (ours: none running)",
        f"Redis:   up      {REDIS_URL}  (ours: none running)",
    ]
    env = services(data_dir, "env")
    assert (env.returncode, env.stdout) == (0, written)

    down = services(data_dir, "down")
    assert down.returncode == 0
    assert down.stderr == "services: nothing started by 'up' was running\n"
    assert not (data_dir / "services.env").exists()


def test_down_leaves_processes_it_did_not_start_alone(
    data_dir: Path, in_process: Callable[..., Run]
) -> None:
    # Pid files naming a live process that is not ours (pid reuse): this test's own.
    run_dir = data_dir / "run"
    run_dir.mkdir(parents=True)
    for name in ("mongo-launcher", "ferretdb", "mongod", "redis"):
        (run_dir / f"{name}.pid").write_text(f"{os.getpid()}\n")
    down = in_process("down")
    assert down.returncode == 0
    assert down.stderr == "services: nothing started by 'up' was running\n"
    assert [p.name for p in run_dir.iterdir()] == [".lock"]


def test_down_needs_only_the_standard_library(data_dir: Path) -> None:
    # As after `make clean`: no venv, so no pymongo and no redis-py.
    code = (
        "import runpy, sys\n"
        "sys.modules['pymongo'] = sys.modules['redis'] = None\n"
        "sys.argv = ['scripts.services', 'down']\n"
        "runpy.run_module('scripts.services', run_name='__main__')\n"
    )
    env = services_env(data_dir)
    down = run([sys.executable, "-c", code], {**env, "PYTHONPATH": str(ROOT)})
    assert down.returncode == 0, down.stderr
    assert down.stderr == "services: nothing started by 'up' was running\n"


def test_port_taken_by_something_else(data_dir: Path, in_process: Callable[..., Run]) -> None:
    # A listener that is not Redis: it hangs up on every connection.
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def hang_up() -> None:
            while True:
                try:
                    conn, _ = server.accept()
                except OSError:
                    return
                conn.close()

        thread = threading.Thread(target=hang_up, daemon=True)
        thread.start()
        try:
            up = in_process("up", REDIS_URL=None, JX_REDIS_PORT=str(port))
        finally:
            server.shutdown(socket.SHUT_RDWR)
    thread.join()
    assert up.returncode == 1
    assert up.stderr.splitlines()[-1] == (
        f"services: error: port {port} on 127.0.0.1 is taken by something that is not Redis;"
        " set JX_REDIS_PORT to a free port"
    )
    assert not (data_dir / "services.env").exists()


@pytest.fixture
def own_redis(data_dir: Path) -> Iterator[tuple[int, int]]:
    """A port for the script's own redis-server, and one where nothing answers."""
    port, dead_port = free_ports(2)
    yield port, dead_port
    # Whatever the test got to: nothing it started outlives it.
    pid = read_pid(data_dir / "run" / "redis.pid")
    services(data_dir, "down", REDIS_URL=None, JX_REDIS_PORT=str(port))
    if pid is not None and alive(pid) and "redis-server" in proc_cmdline(pid):
        os.kill(pid, signal.SIGKILL)


def test_starts_and_stops_its_own_redis(
    data_dir: Path, own_redis: tuple[int, int], in_process: Callable[..., Run]
) -> None:
    port, dead_port = own_redis
    url = f"redis://127.0.0.1:{port}/0"
    dead_url = f"redis://127.0.0.1:{dead_port}/0"
    pidfile = data_dir / "run" / "redis.pid"
    pidfile.parent.mkdir(parents=True)
    pidfile.write_text(f"{os.getpid()}\n")  # stale: names a process that is not redis-server

    up = services(data_dir, "up", REDIS_URL=dead_url, JX_REDIS_PORT=str(port))
    assert up.returncode == 0, up.stderr
    lines = up.stderr.splitlines()
    assert lines[1:3] == [
        f"services: note: REDIS_URL={dead_url} does not answer PING;"
        " ignoring it and using a local server",
        f"services: removing stale pid file {pidfile}",
    ]
    started = re.fullmatch(
        rf"services: Redis: started redis-server [0-9.]+ \(no persistence\) at {re.escape(url)}"
        r" \(pid ([0-9]+)\)",
        lines[3],
    )
    assert started, lines
    pid = int(started.group(1))
    assert read_pid(pidfile) == pid
    assert alive(pid)
    assert (
        data_dir / "services.env"
    ).read_text() == f"MONGODB_URI={MONGODB_URI}\nREDIS_URL={url}\n"

    again = in_process("up", REDIS_URL=None, JX_REDIS_PORT=str(port))
    assert again.returncode == 0, again.stderr
    assert again.stderr.splitlines()[-1] == (
        f"services: Redis: redis-server already running at {url}"
        f" (pid {pid}; started by an earlier 'up')"
    )

    status = in_process("status", JX_REDIS_PORT=str(port))
    assert status.returncode == 0, status.stdout
    assert status.stdout.splitlines()[1] == (
        f"Redis:   up      {url}  (ours: redis-server pid {pid})"
    )

    down = services(data_dir, "down", JX_REDIS_PORT=str(port))
    assert down.returncode == 0
    assert down.stderr == f"services: stopped redis-server (pid {pid})\n"
    assert not alive(pid)
    assert not pidfile.exists()
    assert not (data_dir / "services.env").exists()
