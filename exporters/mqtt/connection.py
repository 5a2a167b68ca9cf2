"""How to reach the broker, worked out from the settings before anything connects: the password read through
the shared secret reader, the TLS files checked. A problem here is a configuration problem (the daemon
refuses to start or to reload); a broker that does not answer never is."""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from collectors.kit.secrets import SecretError, read_secret, warn_if_others_can_read
from collectors.kit.warnonce import WarnOnce
from exporters.base import file_stamp
from exporters.mqtt.settings import MqttSettings
from exporters.mqtt.topics import client_id_of, topics_of

log = logging.getLogger("physgap.exporters.mqtt")
# Settings are read at start and on every reload: one warning per file, not one per SIGHUP.
_warn = WarnOnce(log)


class ConnectionSetupError(Exception):
    """The connection cannot be set up as configured; the message names the key and path, never a secret."""


@dataclass(frozen=True)
class Connection:
    """Everything a connection is made with. An equal Connection after a reload needs no reconnect."""

    host: str
    port: int
    client_id: str
    protocol: str  # "3.1.1" | "5"
    username: str
    password: str | None = field(repr=False)  # repr hides it: a Connection may end up in a log or a traceback
    tls: bool
    ca_file: Path | None
    cert_file: Path | None
    key_file: Path | None
    # mtime and size of the TLS files: a certificate renewed under the same name is a change on reload.
    tls_stamps: tuple[tuple[int, int] | None, ...]
    will_topic: str
    homeassistant_status: str
    discovery_filter: str

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def connection_of(settings: MqttSettings) -> Connection | None:
    """The connection `settings` asks for, None when MQTT is off; ConnectionSetupError when the password or
    a TLS file cannot be used."""
    config = settings.config
    if not config.enabled:
        return None
    password = None
    if config.password_file is not None:
        try:
            secret = read_secret(config.password_file)
        except SecretError as exc:
            raise ConnectionSetupError(f"mqtt.password_file: {exc}") from None
        warn_if_others_can_read(secret, _warn, "MQTT password file %s is readable by every user; chmod 0640 or "
                                "use a systemd credential")
        password = secret.value
    topics = topics_of(settings)
    conn = Connection(
        host=config.host, port=config.port, client_id=client_id_of(settings), protocol=config.protocol,
        username=config.username, password=password, tls=config.tls,
        ca_file=config.ca_file if config.tls else None,
        cert_file=config.cert_file if config.tls else None,
        key_file=config.key_file if config.tls else None,
        tls_stamps=(tuple(file_stamp(p) for p in (config.ca_file, config.cert_file, config.key_file))
                    if config.tls else ()),
        will_topic=topics.availability, homeassistant_status=topics.homeassistant_status,
        discovery_filter=topics.discovery_filter,
    )
    if conn.tls:
        tls_context(conn)  # fail now, at start or reload, rather than at every connection attempt
    return conn


def tls_context(conn: Connection) -> ssl.SSLContext:
    """The client TLS context: the configured CA (else the system's), an optional client certificate, and
    the hostname check on (the default of a client context; it is never turned off here)."""
    try:
        context = ssl.create_default_context(cafile=str(conn.ca_file) if conn.ca_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise ConnectionSetupError(f"mqtt.ca_file: cannot load CA {conn.ca_file}: {describe_error(exc)}") from None
    if conn.cert_file is not None and conn.key_file is not None:
        try:
            context.load_cert_chain(str(conn.cert_file), str(conn.key_file), password=_no_passphrase)
        except (OSError, ssl.SSLError, TypeError) as exc:
            raise ConnectionSetupError(f"mqtt.cert_file: cannot load client certificate {conn.cert_file} with key "
                                       f"{conn.key_file}: {describe_error(exc)}") from None
    return context


def _no_passphrase() -> str:
    # Without a callback OpenSSL would prompt for the passphrase on the terminal of a daemon.
    raise TypeError("the key is passphrase-protected; use an unencrypted key")


def describe_error(exc: BaseException) -> str:
    """An operator's reason for a failed connect or TLS setup: "Connection refused", "certificate verify
    failed: unable to get local issuer certificate", ..."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message}" if exc.verify_message else str(exc)
    if isinstance(exc, ssl.SSLError):
        return exc.reason or str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
