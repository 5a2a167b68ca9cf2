"""Exporters: Prometheus (HTTP + textfile), MQTT (+ Home Assistant discovery)."""
