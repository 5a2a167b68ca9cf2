"""Reading a secret (a password, an SNMP community) from a file or a systemd credential.

Secrets never come from argv or the TOML file itself. A relative path is looked up in
`$CREDENTIALS_DIRECTORY` (systemd `LoadCredential=`) when that is set. The size is capped, since a
misconfigured path (a log file, /dev/zero) must not be slurped, a FIFO in its place is refused rather than
waited on (collectors.kit.files), and a file that others may read is worth a warning. The secret's text
never appears in an exception or a log line: only its path does.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from collectors.kit.files import NotRegularFile, TooLarge, read_regular_file
from collectors.kit.warnonce import WarnOnce

MAX_SECRET_BYTES = 4096
CREDENTIALS_ENV = "CREDENTIALS_DIRECTORY"


class SecretError(Exception):
    """The secret could not be had; the message names the path and the reason, never the content."""


@dataclass(frozen=True)
class Secret:
    value: str = field(repr=False)
    path: Path
    world_readable: bool  # readable by users other than the owner and group: the caller should warn


def resolve_secret_path(path: Path) -> Path:
    credentials = os.environ.get(CREDENTIALS_ENV)
    if not path.is_absolute() and credentials:
        return Path(credentials) / path
    return path


def read_secret(path: Path, *, max_bytes: int = MAX_SECRET_BYTES) -> Secret:
    """The file's text without its trailing line break; SecretError when unreadable, too large or empty."""
    resolved = resolve_secret_path(path)
    try:
        raw, info = read_regular_file(resolved, max_bytes)
    except NotRegularFile as exc:
        if exc.is_directory:  # said as open() says it, as it always was
            raise SecretError(f"cannot read secret file {resolved} ({os.strerror(errno.EISDIR)})") from None
        raise SecretError(f"secret file {resolved} is not a regular file") from None
    except TooLarge:
        raise SecretError(f"secret file {resolved} is larger than {max_bytes} bytes") from None
    except OSError as exc:
        raise SecretError(f"cannot read secret file {resolved} ({exc.strerror or type(exc).__name__})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretError(f"secret file {resolved} is not UTF-8 text") from None
    value = text.rstrip("\r\n")
    if not value.strip():
        raise SecretError(f"secret file {resolved} is empty")
    return Secret(value, resolved, bool(info.st_mode & stat.S_IROTH))


def warn_if_others_can_read(secret: Secret, warn: WarnOnce, message: str) -> None:
    """Warn once per file while others may read it (`message` gets the path); once fixed, a later
    chmod o+r is worth a warning again."""
    key = f"secret-mode:{secret.path}"
    if secret.world_readable:
        warn.warn(key, message, secret.path)
    else:
        warn.forget(key)
