"""`--database` / CHARTER_DATABASE name a SQLite file or a PostgreSQL URL; what cannot be used
is refused with a message saying why and what to do instead, before anything is touched."""

import os
import subprocess


def charter(binary, *arguments, env=None):
    return subprocess.run([str(binary), *arguments], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def test_backup_on_postgres_names_postgres_own_tools_and_hides_the_password(charter_binary, tmp_path):
    done = charter(charter_binary, "backup", str(tmp_path / "copy.sqlite"),
                   "--database", "postgres://charter:s3cret@127.0.0.1:5432/charter")
    assert done.returncode != 0
    assert "pg_dump" in done.stderr and "pg_basebackup" in done.stderr, done.stderr
    assert "s3cret" not in done.stderr + done.stdout
    assert not (tmp_path / "copy.sqlite").exists()
    restore = charter(charter_binary, "restore", str(tmp_path / "copy.sqlite"),
                      env={"CHARTER_DATABASE": "postgresql://charter@db.example.org/charter"})
    assert restore.returncode != 0 and "pg_restore" in restore.stderr, restore.stderr


def test_an_unknown_scheme_is_refused_and_a_plain_path_is_a_sqlite_file(charter_binary, tmp_path):
    odd = charter(charter_binary, "backup", str(tmp_path / "b.sqlite"), "--database", "mysql://x/y")
    assert odd.returncode != 0 and 'Unknown database scheme "mysql"' in odd.stderr, odd.stderr
    database = tmp_path / "charter.sqlite"
    made = charter(charter_binary, "backup", str(tmp_path / "b.sqlite"), "--database", f"sqlite://{database}")
    assert made.returncode == 0, made.stderr
    assert database.exists() and (tmp_path / "b.sqlite").exists()
