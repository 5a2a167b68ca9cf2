"""MQTT with Home Assistant discovery: pure renderers (topics, entities, discovery, states), the broker
connection (connection, publisher: the only modules with side effects besides the exporter) and the exporter
that ties them to the View. paho-mqtt is imported only when [mqtt] has a host."""

from exporters.mqtt.discovery import discovery_documents, discovery_json
from exporters.mqtt.exporter import MqttExporter
from exporters.mqtt.settings import MqttSettings, mqtt_settings, status_page_url

__all__ = ["MqttExporter", "MqttSettings", "discovery_documents", "discovery_json", "mqtt_settings",
           "status_page_url"]
