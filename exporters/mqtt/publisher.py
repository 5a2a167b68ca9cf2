"""The one place that talks to the broker (paho-mqtt 2.x, callback API version 2).

Connecting never blocks the caller: `connect_async` plus paho's network thread, which retries with
exponential backoff. `publish` sends only while connected and otherwise reports the message as not sent:
the exporter keeps the latest document per topic and sends all of them after the next connect, so nothing
piles up in paho's queues while the broker is away. Problems are logged once per reason, never with a
secret in them.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Container, Iterable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from exporters.mqtt.connection import Connection, describe_error, tls_context

log = logging.getLogger("physgap.exporters.mqtt")

KEEPALIVE_SECONDS = 30  # a broker that vanished silently is noticed within 1.5 x this
CONNECT_TIMEOUT_SECONDS = 5.0
STOP_PUBLISH_SECONDS = 0.5  # how long stop() waits for the broker to take the final "offline"
STOP_JOIN_SECONDS = 1.0
# paho keeps QoS 1 messages until the broker acknowledges them, and sends them again after a reconnect.
# publish_retained() waits for acknowledgements batch by batch, so this cap is only a backstop.
MAX_QUEUED_MESSAGES = 5000
BATCH_MESSAGES = 50  # retained configs sent before waiting for the broker's acknowledgements
ACK_WAIT_SECONDS = 10.0  # a broker that takes longer is treated as gone: all is sent again after a reconnect
# CONNACK reasons that mean the credentials, not the network: worth telling the operator where to look.
_CREDENTIAL_REASONS = {"Not authorized", "Bad user name or password"}


def _no_delay(client: mqtt.Client, userdata: Any, sock: Any) -> None:
    # paho leaves Nagle's algorithm on: each small PUBLISH then waits for the previous one's TCP ACK, which
    # the broker delays by up to 40 ms. A batch of configs took half a second instead of a few milliseconds.
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _published(info: mqtt.MQTTMessageInfo) -> bool:
    try:
        return info.is_published()
    except (RuntimeError, ValueError):  # it never left: the connection went away meanwhile
        return False


class _Client(mqtt.Client):
    """paho's client, remembering why the last connection attempt failed: paho's on_connect_fail callback is
    not told, and "cannot connect" without a reason helps nobody."""

    last_error: BaseException | None = None

    def reconnect(self) -> MQTTErrorCode:
        try:
            return super().reconnect()
        except OSError as exc:
            self.last_error = exc
            raise


class Publisher:
    """One connection to one broker. `on_change` is called (from paho's thread) after every connect and
    when Home Assistant announces itself; it must only wake the exporter."""

    def __init__(self, conn: Connection, on_change: Callable[[], None], *, reconnect_min: int = 1,
                 reconnect_max: int = 60) -> None:
        self.conn = conn
        self._on_change = on_change
        self._status_topic = conn.homeassistant_status
        self._discovery_filter = conn.discovery_filter
        self._lock = threading.Lock()
        self._problem = ""  # the last reason logged: each is logged once, until a connect succeeds
        self._was_connected = False
        self.connections = 0  # successful connects so far: a new value means "send everything again"
        self.homeassistant_births = 0  # `online` messages seen on Home Assistant's status topic
        self._retained_configs: set[str] = set()  # discovery configs the broker holds for this host
        self._watching_configs = False
        self._stopped = False

        if conn.protocol == "5":  # MQTT 5 has clean_start on connect instead, and refuses clean_session
            client = _Client(CallbackAPIVersion.VERSION2, client_id=conn.client_id, protocol=mqtt.MQTTv5)
        else:
            client = _Client(CallbackAPIVersion.VERSION2, client_id=conn.client_id, protocol=mqtt.MQTTv311,
                             clean_session=True)
        client.connect_timeout = CONNECT_TIMEOUT_SECONDS
        # No in-flight window of paho's own (publish_retained() bounds it): with paho's default of 20, queued
        # QoS 1 configs would wait while later QoS 0 states overtake them.
        client.max_inflight_messages = 0
        client.max_queued_messages = MAX_QUEUED_MESSAGES
        client.reconnect_delay_set(reconnect_min, reconnect_max)
        # Set before connecting: the broker publishes it when the daemon dies without saying goodbye.
        client.will_set(conn.will_topic, "offline", qos=1, retain=True)
        if conn.username:
            client.username_pw_set(conn.username, conn.password)
        if conn.tls:
            client.tls_set_context(tls_context(conn))  # ConnectionSetupError: a configuration problem
        client.on_socket_open = _no_delay
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client = client

    # -- control (the exporter's thread) ---------------------------------------------------------------

    def start(self) -> None:
        if self.conn.protocol == "5":
            self._client.connect_async(self.conn.host, self.conn.port, KEEPALIVE_SECONDS, clean_start=True)
        else:
            self._client.connect_async(self.conn.host, self.conn.port, KEEPALIVE_SECONDS)
        self._client.loop_start()

    @property
    def connected(self) -> bool:
        return self._client.is_connected()

    def publish(self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False) -> bool:
        """Send one message if connected; False means it was not sent, and nothing was queued for later."""
        if not self._client.is_connected():
            return False
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        return info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS

    def publish_retained(self, messages: Iterable[tuple[str, bytes]], stopping: threading.Event) -> bool:
        """Send retained QoS 1 messages (discovery configs) in batches, each acknowledged by the broker before
        the next: paho then never holds more than a batch, so a flush of a 2000-entity host costs no more
        memory than one of 50; and whatever is sent after this returns (the states) reaches the broker
        after the configs. False when not connected, or the broker stopped acknowledging, or `stopping`."""
        batch: list[mqtt.MQTTMessageInfo] = []
        for topic, payload in messages:
            if not self._client.is_connected():
                return False
            info = self._client.publish(topic, payload, qos=1, retain=True)
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return False
            batch.append(info)
            if len(batch) >= BATCH_MESSAGES and not self._acknowledged(batch, stopping):
                return False
        return self._acknowledged(batch, stopping)

    def _acknowledged(self, batch: list[mqtt.MQTTMessageInfo], stopping: threading.Event) -> bool:
        deadline = time.monotonic() + ACK_WAIT_SECONDS
        for info in batch:
            while not _published(info):
                if stopping.is_set() or not self._client.is_connected() or time.monotonic() > deadline:
                    return False
                # In slices, so that a stop or a lost connection ends the wait at once.
                with contextlib.suppress(RuntimeError, ValueError):
                    info.wait_for_publish(0.05)
        batch.clear()
        return True

    def retained_orphans(self, known: Container[str]) -> set[str]:
        """The discovery configs for this host the broker held when this connection began that are not in
        `known`. Known ones are dropped from the record on the way: on a 128-drive host it would otherwise
        keep 2000 topics the exporter already has."""
        with self._lock:
            self._retained_configs = {topic for topic in self._retained_configs if topic not in known}
            return set(self._retained_configs)

    def forget_config(self, topic: str) -> None:
        with self._lock:
            self._retained_configs.discard(topic)

    def stop_watching_configs(self) -> None:
        """The broker sent its retained configs right after the subscription; from here on the subscription
        would only echo every config physgap publishes back to it."""
        with self._lock:
            if not self._watching_configs:
                return
            self._watching_configs = False
        if self._client.is_connected():
            self._client.unsubscribe(self._discovery_filter)

    def stop(self, offline_topic: str | None) -> None:
        """Say goodbye (a retained `offline`: the will is only sent for an unclean end) and disconnect, within
        about a second and a half even when the broker does not answer."""
        if self._stopped:
            return
        self._stopped = True
        client = self._client
        if offline_topic is not None and client.is_connected():
            info = client.publish(offline_topic, b"offline", qos=1, retain=True)
            if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
                # RuntimeError: the connection went away meanwhile, and the will says offline instead.
                with contextlib.suppress(RuntimeError, ValueError):
                    info.wait_for_publish(STOP_PUBLISH_SECONDS)
        client.disconnect()
        # loop_stop() joins paho's thread without a timeout, and that thread may sit in a TCP or TLS connect
        # for CONNECT_TIMEOUT_SECONDS: join it from a helper so stop() keeps its promise. Both are daemons.
        stopper = threading.Thread(target=client.loop_stop, name="physgap-mqtt-stop", daemon=True)
        stopper.start()
        stopper.join(STOP_JOIN_SECONDS)

    # -- paho's thread: record, log, wake; never render or publish here ----------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: mqtt.ConnectFlags, reason: ReasonCode,
                    properties: Properties | None) -> None:
        del userdata, flags, properties
        if reason.is_failure:
            text = str(reason)
            hint = " (check username and password_file)" if text in _CREDENTIAL_REASONS else ""
            self._report(f"MQTT broker {self.conn.address} refused the connection: {text}{hint}; "
                         "retrying with backoff")
            return
        client.subscribe([(self._status_topic, 1), (self._discovery_filter, 1)])
        with self._lock:
            self._retained_configs.clear()  # the broker tells again what it holds (it may have restarted empty)
            self._watching_configs = True
            self.connections += 1
            self._was_connected = True
            self._problem = ""
        log.info("MQTT connected to %s as %s (MQTT %s%s)", self.conn.address, self.conn.client_id,
                 self.conn.protocol, ", TLS" if self.conn.tls else "")
        self._on_change()

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        del userdata
        error = self._client.last_error
        reason = describe_error(error) if error is not None else "no answer"
        self._report(f"cannot connect to MQTT broker {self.conn.address}: {reason}; retrying with backoff")

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: mqtt.DisconnectFlags, reason: ReasonCode,
                       properties: Properties | None) -> None:
        del client, userdata, flags, properties
        with self._lock:
            was_connected, self._was_connected = self._was_connected, False
        if was_connected and not self._stopped:
            self._report(f"MQTT connection to {self.conn.address} lost: {reason}; reconnecting")

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        del client, userdata
        if message.topic == self._status_topic:
            if message.payload.strip() == b"online":
                with self._lock:
                    self.homeassistant_births += 1
                self._on_change()
            return
        with self._lock:
            if not self._watching_configs:
                return
            if message.payload:
                self._retained_configs.add(message.topic)
            else:
                self._retained_configs.discard(message.topic)

    def _report(self, problem: str) -> None:
        with self._lock:
            repeated, self._problem = problem == self._problem, problem
        if not repeated:
            log.warning("%s", problem)
