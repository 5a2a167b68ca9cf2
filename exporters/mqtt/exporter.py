"""The MQTT exporter: the View as Home Assistant entities and JSON states, kept current on a broker.

It sleeps until something happens: a new View, a (re)connect, Home Assistant announcing itself, or the
refresh interval. Each wake renders the newest View (pure functions) and sends what the broker lacks:

- after every connect: `online`, every discovery config and every state (a restarted broker may have
  lost its retained messages, and paho keeps no backlog: nothing is published while disconnected);
- when Home Assistant says `online`: every discovery config and state again;
- otherwise only what changed (compared per topic), and every state once per interval so that
  `expire_after` never greys out a healthy entity.

Discovery configs go out in batches the broker acknowledges before any state follows, so a state never
reaches the broker ahead of its entity's config. States are sent again a few seconds after discovery: Home
Assistant subscribes to a new entity's state topic only once it has processed the config, and states are
not retained (Home Assistant advises against retained states with expire_after). An entity whose object
vanished gets an empty retained config, which deletes it; but only once the collector that reported it has
run successfully without it, so a failing collector greys its entities out (expire_after) instead of
deleting them with their history.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from collectors.model.snapshot import View
from exporters.base import ExporterError, ViewSource, WakeLoop
from exporters.mqtt.connection import Connection, ConnectionSetupError, connection_of
from exporters.mqtt.discovery import ONLINE, config_topics, render_discovery
from exporters.mqtt.entities import Object, objects
from exporters.mqtt.settings import MqttSettings
from exporters.mqtt.states import render_states
from exporters.mqtt.topics import topics_of

if TYPE_CHECKING:  # paho is imported only when MQTT is configured
    from exporters.mqtt.publisher import Publisher

log = logging.getLogger("physgap.exporters.mqtt")

MIN_SECONDS = 1.0  # a burst of collector reports becomes one publish cycle of the newest View
SETTLE_SECONDS = 5.0  # states again this long after discovery, once Home Assistant has subscribed
RECONNECT_MIN_SECONDS = 1
RECONNECT_MAX_SECONDS = 60


class MqttExporter:
    name = "mqtt"

    def __init__(self, settings: MqttSettings, *, min_seconds: float = MIN_SECONDS,
                 settle_seconds: float = SETTLE_SECONDS, reconnect_min: int = RECONNECT_MIN_SECONDS,
                 reconnect_max: int = RECONNECT_MAX_SECONDS) -> None:
        self._settings = settings
        self._settle_seconds = settle_seconds
        self._reconnect = (reconnect_min, reconnect_max)
        self._loop = WakeLoop("mqtt", self._locked_cycle, min_seconds, due=self._until_due)
        # Held for a whole publish cycle and for a publisher swap on reload: one never sees half the other.
        self._lock = threading.Lock()
        self._views: ViewSource | None = None
        self._publisher: Publisher | None = None
        self._reset_memory()

    def _reset_memory(self) -> None:
        # Entities that exist (present in the View, or kept while their collector fails): config topic ->
        # the object it belongs to (one object, shared by all its entities' topics).
        self._known: dict[str, Object] = {}
        self._removals: set[str] = set()  # vanished entities whose empty config the broker has not had yet
        # Config topics the broker has had from this connection under the current settings. A config depends
        # on its object's identity and the settings only, so a topic once sent needs sending again only after
        # a reconnect, Home Assistant's birth or a settings change; the documents themselves are not kept
        # (1.2 MB on a 128-drive host) but rendered again when due, object by object.
        self._sent_configs: set[str] = set()
        self._sent_states: dict[str, bytes] = {}  # state document last sent (clock values left out), by topic
        self._connections_seen = 0
        self._births_seen = 0
        self._refreshed_at = float("-inf")
        self._settle_at: float | None = None
        # Config topics by object, for the same reason: most Views need nothing rendered (rendering was two
        # thirds of a cycle's CPU on a 128-drive host).
        self._topics: dict[tuple[str, str, str | None], tuple[str, ...]] = {}
        self._topics_for: MqttSettings | None = None

    # -- lifecycle (the runtime's thread) ----------------------------------------------------------------

    def start(self, views: ViewSource) -> None:
        publisher = self._new_publisher(self._connection(self._settings))
        self._views = views
        with self._lock:
            self._publisher = publisher
            if publisher is not None:
                publisher.start()
        self._loop.start(views)

    def reconfigure(self, settings: MqttSettings) -> None:
        conn = self._connection(settings)
        with self._lock:
            old = self._publisher
            if conn == (old.conn if old is not None else None):
                self._settings = settings  # same broker and topics: changed documents go out on the next cycle
            else:
                publisher = self._new_publisher(conn)  # raises before anything running is touched
                if old is not None:
                    old.stop(topics_of(self._settings).availability)
                self._settings = settings
                self._publisher = publisher
                self._reset_memory()
                if publisher is not None:
                    publisher.start()
        self._loop.wake()

    def stop(self) -> None:
        self._loop.stop()
        with self._lock:
            if self._publisher is not None:
                self._publisher.stop(topics_of(self._settings).availability)
                self._publisher = None

    def _connection(self, settings: MqttSettings) -> Connection | None:
        try:
            return connection_of(settings)
        except ConnectionSetupError as exc:
            raise ExporterError(str(exc)) from None

    def _new_publisher(self, conn: Connection | None) -> Publisher | None:
        if conn is None:
            return None
        from exporters.mqtt.publisher import Publisher

        try:
            return Publisher(conn, self._loop.wake, reconnect_min=self._reconnect[0],
                             reconnect_max=self._reconnect[1])
        except ConnectionSetupError as exc:
            raise ExporterError(str(exc)) from None

    # -- the exporter's thread -----------------------------------------------------------------------------

    def _locked_cycle(self) -> None:
        with self._lock:
            self._cycle()

    def _until_due(self) -> float | None:
        # Disconnected, nothing is due: the next connect wakes the thread (and a View change does anyway).
        if self._publisher is None or not self._publisher.connected:
            return None
        due = self._refreshed_at + self._settings.config.interval
        if self._settle_at is not None:
            due = min(due, self._settle_at)
        return max(0.0, due - time.monotonic())

    def _cycle(self) -> None:
        publisher, views = self._publisher, self._views
        if publisher is None or views is None:
            return
        view = views.current()
        settings = self._settings
        objs = objects(view)
        configs = self._configs(objs, settings)
        self._track(configs, view)
        connections, births = publisher.connections, publisher.homeassistant_births
        if not publisher.connected:
            return  # everything is sent after the next connect; nothing waits in a queue meanwhile
        topics = topics_of(settings)
        now = time.monotonic()
        new_connection = connections != self._connections_seen
        if new_connection and not publisher.publish(topics.availability, ONLINE.encode(), qos=1, retain=True):
            return
        everything = new_connection or births != self._births_seen
        if not self._send_configs(publisher, everything, view):
            return
        settling = self._settle_at is not None and now >= self._settle_at
        refresh = everything or settling or now >= self._refreshed_at + settings.config.interval
        states = render_states(objs, topics, time.time())
        for topic, state in states.items():
            if refresh or self._sent_states.get(topic) != state.stable:
                if not publisher.publish(topic, state.payload):
                    return
                self._sent_states[topic] = state.stable
        for topic in self._sent_states.keys() - states.keys():
            del self._sent_states[topic]  # an object that comes back is sent at once
        # Only now, with everything sent: a connection lost half way is caught up on the next connect.
        self._connections_seen, self._births_seen = connections, births
        if refresh:
            self._refreshed_at = now
        if everything:
            self._settle_at = now + self._settle_seconds
        elif settling:
            self._settle_at = None
            publisher.stop_watching_configs()  # the broker's retained configs have long arrived

    def _configs(self, objs: Iterable[Object], settings: MqttSettings) -> dict[str, Object]:
        if settings != self._topics_for:
            # Any document may read differently now (expire_after, the device block): all are sent again.
            self._topics, self._topics_for, self._sent_configs = {}, settings, set()
        by_object: dict[tuple[str, str, str | None], tuple[str, ...]] = {}
        configs: dict[str, Object] = {}
        for obj in objs:
            identity = (obj.kind.name, obj.object_id, obj.owner)
            topics = self._topics.get(identity)
            if topics is None:
                topics = config_topics(obj, settings)
            by_object[identity] = topics
            for topic in topics:
                configs[topic] = obj
        self._topics = by_object  # objects that are gone are forgotten
        return configs

    def _track(self, configs: dict[str, Object], view: View) -> None:
        """Update which entities exist: the View's, plus vanished ones whose collector has not yet run
        successfully without them."""
        for topic in [topic for topic in self._known if topic not in configs]:
            if _gone(self._known[topic].owner, view):
                del self._known[topic]
                self._removals.add(topic)
        self._known.update(configs)
        self._removals -= configs.keys()

    def _send_configs(self, publisher: Publisher, everything: bool, view: View) -> bool:
        due = [topic for topic in self._known if everything or topic not in self._sent_configs]
        removals = set(self._removals)
        # Configs retained from an earlier run for objects gone since (a disk replaced while the host was
        # down): orphans once every collector has reported in full at least once and none had them.
        orphans = publisher.retained_orphans(self._known)
        if all(status.last_success is not None for status in view.snapshot.collectors.values()):
            topics = topics_of(self._settings)
            removals |= {t for t in orphans if topics.owns_discovery(t)}
        emptied = [(topic, b"") for topic in sorted(removals)]
        if not publisher.publish_retained(self._documents(due), self._loop.stopping):
            return False
        self._sent_configs.update(due)
        if not publisher.publish_retained(emptied, self._loop.stopping):
            return False
        for topic, _ in emptied:
            self._sent_configs.discard(topic)
            self._removals.discard(topic)
            publisher.forget_config(topic)
        return True

    def _documents(self, due: list[str]) -> Iterator[tuple[str, bytes]]:
        """The configs of `due`, rendered object by object as the publisher takes them: a flush of a 2000-entity
        host never holds more than one object's documents at a time."""
        rendered: dict[str, bytes] = {}
        for topic in due:
            if topic not in rendered:
                rendered = {t: d.payload for t, d in render_discovery((self._known[topic],), self._settings).items()}
            yield topic, rendered[topic]


def _gone(owner: str | None, view: View) -> bool:
    """Whether an object missing from `view` has really gone: it followed from the configuration, or its
    collector was removed, or its collector just ran successfully without it."""
    if owner is None:
        return True
    status = view.snapshot.collectors.get(owner)
    return status is None or status.success is True
