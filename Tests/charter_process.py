"""What the Python test suites (Tests/Faults, Tests/Fuzz) share about running the real
`charter` binary: where the repository is, a free loopback port, the tail of a server log,
the rate-limit flags that load tests switch off, and a private copy of the binary."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
NO_LIMITS = [
    "--vote-limit", "off", "--vote-ip-limit", "off",
    "--statement-limit", "off", "--statement-ip-limit", "off",
    # New participants per address (on by default since the hardening): the load and crash
    # tests make hundreds from 127.0.0.1.
    "--participant-ip-limit", "off",
]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log_tail(path: Path, limit: int = 4000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no server log)"
    return text[-limit:] if text else "(server log is empty)"


def copy_binary(folder: Path) -> Path:
    """The charter executable ($CHARTER_BIN, else .build/debug/charter) copied into `folder`
    with the SwiftPM resource bundles beside it, so a rebuild during a run does not swap the
    binary under the tests. Raises FileNotFoundError when there is none."""
    configured = os.environ.get("CHARTER_BIN")
    source = Path(configured) if configured else REPO_ROOT / ".build" / "debug" / "charter"
    if not source.is_file() or not os.access(source, os.X_OK):
        raise FileNotFoundError(f"charter executable not found at {source}; build it or set CHARTER_BIN")
    target = folder / "charter"
    shutil.copy2(source, target)
    # SwiftPM looks for resource bundles beside the executable first.
    for bundle in source.parent.glob("*.resources"):
        shutil.copytree(bundle, folder / bundle.name, symlinks=True)
    return target


def stop_process(proc: subprocess.Popen, timeout: float) -> int | None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout`; its exit status, or None when
    it had to be killed. Idempotent."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
            return None
    return proc.returncode
