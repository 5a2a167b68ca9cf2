"""physgap runtime: CLI, config, scheduler, snapshot store, gap engine, systemd notify."""

__version__ = "0.1.0"
