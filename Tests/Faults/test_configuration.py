"""Settings come from flags, then CHARTER_* variables, then defaults (CharterConfiguration): a bad
value stops the real binary before it touches anything, with a message naming where it came from
and what is expected; `charter config` lists every setting and its source; an unknown CHARTER_*
variable is reported with the setting it was probably meant to be."""

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from charter_process import REPO_ROOT, log_tail  # noqa: E402


def charter(binary, *arguments, env=None, cwd=None):
    """The binary run to its end, with none of the caller's CHARTER_* settings, plus `env`."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CHARTER_")}
    return subprocess.run([str(binary), *arguments], capture_output=True, text=True, timeout=60,
                          env={**environment, **(env or {})}, cwd=cwd or REPO_ROOT)


def test_serve_with_a_bad_port_in_the_environment_exits_non_zero_naming_it(charter_binary, tmp_path):
    database = tmp_path / "charter.sqlite"
    done = charter(charter_binary, "serve", "--database", str(database), env={"CHARTER_PORT": "abc"})
    assert done.returncode != 0, done.stdout + done.stderr
    assert 'CHARTER_PORT="abc": expected a port number from 1 to 65535' in done.stderr, done.stderr
    assert not database.exists(), "the database was opened before the settings were checked"


def test_serve_with_a_bad_flag_exits_non_zero_naming_it(charter_binary, tmp_path):
    database = tmp_path / "charter.sqlite"
    # The flag is read before the environment: its bad value is the one reported.
    done = charter(charter_binary, "serve", "--database", str(database), "--vote-limit", "fast",
                   env={"CHARTER_VOTE_LIMIT": "5/30"})
    assert done.returncode != 0, done.stdout + done.stderr
    assert '--vote-limit "fast": expected rate/burst such as 5/30, or off' in done.stderr, done.stderr
    assert not database.exists()


def test_config_lists_each_setting_with_its_value_and_source(charter_binary, tmp_path):
    done = charter(charter_binary, "config", "--port", "9123", "--database",
                   "postgres://charter:pa55word@db.example.org:5432/charter",
                   env={"CHARTER_VOTE_LIMIT": "off", "CHARTER_SECRET": "instance-s3cret", "CHARTER_PROT": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {line.split()[0]: line.split() for line in done.stdout.splitlines() if line.startswith(("--", "- "))}
    assert rows["--port"][:4] == ["--port", "CHARTER_PORT", "flag", "9123"], done.stdout
    assert rows["--vote-limit"][:4] == ["--vote-limit", "CHARTER_VOTE_LIMIT", "env", "off"], done.stdout
    assert rows["--host"][:4] == ["--host", "CHARTER_HOST", "default", "127.0.0.1"], done.stdout
    assert rows["--database"][3] == "postgres://charter:***@db.example.org:5432/charter", done.stdout
    assert "instance-s3cret" not in done.stdout + done.stderr
    assert "pa55word" not in done.stdout + done.stderr
    assert "CHARTER_PROT" in done.stdout and "did you mean CHARTER_PORT?" in done.stdout, done.stdout


def test_config_exits_non_zero_listing_every_bad_value(charter_binary):
    done = charter(charter_binary, "config", "--log-level", "loud", env={"CHARTER_RUN_EXECUTOR": "kubernetes"})
    assert done.returncode != 0
    assert '--log-level "loud": expected a log level' in done.stdout, done.stdout
    assert 'CHARTER_RUN_EXECUTOR="kubernetes": expected local or slurm' in done.stdout, done.stdout


def test_serve_warns_about_an_unknown_charter_variable(charter, workdir):
    server = charter.server(workdir / "charter.sqlite", env={"CHARTER_VOTE_LIMT": "off"}).start()
    server.stop()
    log = log_tail(server.log_path, 100_000)
    assert "CHARTER_VOTE_LIMT is not a Charter setting and is ignored; did you mean CHARTER_VOTE_LIMIT?" in log, log
