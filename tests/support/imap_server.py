"""A real IMAP server for tests: Debian's dovecot (package ``dovecot-imapd``), on a free loopback
port, with its whole configuration, state and mailboxes in a temporary directory.

``dovecot_server()`` starts it in the foreground (``dovecot -F -c <config>``) and stops it on exit;
one user (``guichet`` / ``secret``) with a Maildir. Mail is put in the mailbox with IMAP APPEND,
as any client would. When dovecot is missing, ``dovecot_missing()`` says so: tests then fail with
the install hint (scripts/bootstrap_test.sh installs it), they are never silently skipped.
"""

from __future__ import annotations

import getpass
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
USER = "guichet"
PASSWORD = "secret"


def dovecot_missing() -> str | None:
    if not Path(DOVECOT).exists():
        return "dovecot n'est pas installé : lancez scripts/bootstrap_test.sh (apt dovecot-imapd)"
    return None


@dataclass(frozen=True)
class ImapServer:
    host: str
    port: int
    user: str
    password: str
    root: Path

    @property
    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _mail_owner() -> tuple[int, int]:
    """Dovecot refuses to give mailboxes to root: as root, they belong to its own user."""
    if os.getuid() != 0:
        return os.getuid(), os.getgid()
    entry = pwd.getpwnam("dovecot")
    return entry.pw_uid, entry.pw_gid


def _config(root: Path, port: int) -> str:
    uid, gid = _mail_owner()
    users = ""
    if os.getuid() != 0:  # unprivileged: every dovecot process runs as us
        me = getpass.getuser()
        users = f"default_internal_user = {me}\ndefault_login_user = {me}\n"
    return f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 0
mail_location = maildir:{root}/mail/%u
{users}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service auth {{
  unix_listener auth-userdb {{
    mode = 0666
  }}
}}
"""


def _wait_for(port: int, proc: subprocess.Popen[bytes], root: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = (root / "dovecot.log").read_text(errors="replace") if root.exists() else ""
            raise RuntimeError(f"dovecot stopped at start (code {proc.returncode}):\n{log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                if s.recv(200).startswith(b"* OK"):
                    return
        except OSError:
            time.sleep(0.05)
    log = (root / "dovecot.log").read_text(errors="replace") if root.exists() else ""
    raise RuntimeError(f"dovecot did not answer within 20 s:\n{log}")


@contextmanager
def dovecot_server() -> Iterator[ImapServer]:
    missing = dovecot_missing()
    if missing:
        raise RuntimeError(missing)
    # Not under pytest's tmp_path: its parents are 0700 and dovecot's login processes run as an
    # unprivileged user that must reach the sockets under base_dir.
    root = Path(tempfile.mkdtemp(prefix="guichet-dovecot-"))
    root.chmod(0o755)
    uid, gid = _mail_owner()
    for sub in ("run", "state", "mail", "home"):
        (root / sub).mkdir()
    for sub in ("mail", "home"):
        os.chown(root / sub, uid, gid)
    (root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
    port = _free_port()
    config = root / "dovecot.conf"
    config.write_text(_config(root, port))
    proc = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(port, proc, root)
        yield ImapServer("127.0.0.1", port, USER, PASSWORD, root)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)
