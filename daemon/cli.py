"""Command line: run, once, report, check-config. Exit codes: 0 ok, 1 a requested check failed, 2 bad
usage or configuration, 130/143 stopped by SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from collectors.model.severity import SEVERITIES
from collectors.model.snapshot import View
from daemon import __version__, logs
from daemon.build import build_evaluator, build_jobs
from daemon.config import DEFAULT_CONFIG_PATH, Config, ConfigError, load_config, resolve_config_path
from daemon.scheduler import Job, Scheduler
from daemon.store import SnapshotStore
from exporters.report import failing, gaps_json, markdown, snapshot_json

log = logging.getLogger("physgap")

# Between a Ctrl-C and the exit, every collection run is cancelled and its programs killed: the whole
# stop stays within two seconds (the README's promise) with this much for the cleanup.
INTERRUPT_GRACE_SECONDS = 1.5


class _Interrupted(BaseException):
    """Raised in the main thread by SIGINT/SIGTERM; a BaseException, so no `except Exception` swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _on_stop_signal(signum: int, frame: FrameType | None) -> None:
    del frame
    # Once only: a second Ctrl-C must not cut short the cleanup that kills the programs (it used to leave
    # smartctl orphaned under PID 1). Whatever collectors log while being cancelled is noise by now.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _ignore_signal)
    logging.disable(logging.CRITICAL)
    raise _Interrupted(signum)


def _ignore_signal(signum: int, frame: FrameType | None) -> None:
    # A Python-level no-op rather than SIG_IGN: SIG_IGN would be inherited by programs started meanwhile.
    del signum, frame


def _interrupted(signum: int) -> int:
    """One line, no traceback, the shell's 128+N status; and nothing left running."""
    name = signal.Signals(signum).name
    print(f"physgap: stopped by {name}", file=sys.stderr)
    code = 128 + signum
    leftover = [t for t in threading.enumerate() if t is not threading.main_thread() and t.is_alive()]
    if leftover:
        # A run that ignored its cancel (a read stuck in the kernel) must not hold the exit: interpreter
        # shutdown would join its pool threads. Its programs were already killed with their groups.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="physgap", description="Physical-layer health daemon and gap report.")
    parser.add_argument("--version", action="version", version=f"physgap {__version__}")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--log-format", default="auto", choices=["auto", "text", "journal", "json"],
                        help="auto: journal when started by systemd (JOURNAL_STREAM set), else text")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def config_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", type=Path, default=None,
                       help=f"TOML file (default: {DEFAULT_CONFIG_PATH} when it exists, else auto-detect)")

    run = sub.add_parser("run", help="run the daemon")
    config_option(run)
    run.add_argument("--web.listen-address", dest="listen", default=None, help="host:port (default :9829)")
    run.add_argument("--web.config.file", dest="web_config", type=Path, default=None,
                     help="exporter-toolkit web-config.yml (TLS, basic auth)")
    run.add_argument("--web.telemetry-path", dest="telemetry_path", default="/metrics")

    once = sub.add_parser("once", help="collect once, print, exit")
    config_option(once)
    once.add_argument("--format", choices=["prometheus", "json"], default="prometheus")

    report = sub.add_parser("report", help="collect once and print the gap table")
    config_option(report)
    report.add_argument("--format", choices=["markdown", "json"], default="markdown")
    report.add_argument("--fail-on", choices=SEVERITIES, default=None,
                        help="exit 1 while a gap of this severity or worse is open")

    discovery = sub.add_parser("discovery", help="collect once and print the Home Assistant discovery documents")
    config_option(discovery)

    check = sub.add_parser("check-config", help="validate a configuration file")
    check.add_argument("file", nargs="?", type=Path, default=DEFAULT_CONFIG_PATH)
    return parser


def _load(path: Path | None) -> tuple[Config, list[Job]] | None:
    try:
        config = load_config(path)
        jobs = build_jobs(config)
    except ConfigError as exc:
        # Errors and warnings from the one pass, in file order.
        for problem in sorted([*exc.problems, *exc.warnings], key=lambda p: p.line or 0):
            print(problem, file=sys.stderr)
        return None
    for problem in config.warnings:
        print(problem, file=sys.stderr)
    return config, jobs


def collect_once(config: Config, jobs: list[Job] | None = None) -> View:
    jobs = jobs if jobs is not None else build_jobs(config)
    store = SnapshotStore(config.daemon.host, build_evaluator(config), [j.name for j in jobs])
    try:
        config.daemon.state_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
    except OSError as exc:
        log.warning("state directory %s unusable: %s", config.daemon.state_dir, exc.strerror or exc)
    Scheduler(jobs, store, config.daemon.state_dir).run_once()
    return store.current()


def main(argv: Sequence[str] | None = None) -> int:
    # First thing: a Ctrl-C during start-up or a collection ends with one line and 130, not a traceback.
    # `run` replaces these with the daemon's own handlers.
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _on_stop_signal)
    try:
        return _main(argv)
    except _Interrupted as exc:
        return _interrupted(exc.signum)


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    logs.setup(args.log_level, args.log_format)

    if args.command == "check-config":
        checked = _load(args.file)
        if checked is None:
            return 2
        print(f"{checked[0].source}: OK")
        return 0

    if args.command == "run":
        from daemon.runtime import Daemon  # keeps `once`/`report` free of the HTTP stack

        return Daemon(args.config, listen=args.listen, web_config=args.web_config,
                      telemetry_path=args.telemetry_path).run()

    loaded = _load(resolve_config_path(args.config))
    if loaded is None:
        return 2
    view = collect_once(*loaded)

    if args.command == "once":
        if args.format == "json":
            sys.stdout.write(snapshot_json(view))
        else:
            from exporters.prometheus import render

            sys.stdout.write(render(view).decode())
        return 0

    if args.command == "discovery":
        from exporters.mqtt import discovery_json, mqtt_settings

        config = loaded[0]
        # As the daemon would publish them (its web config decides http or https for the status page link).
        settings = mqtt_settings(config.mqtt, config.daemon.host, config.prometheus.listen,
                                 config.prometheus.web_config)
        sys.stdout.write(discovery_json(view, settings))
        return 0

    sys.stdout.write(gaps_json(view) if args.format == "json" else markdown(view))
    if args.fail_on and (bad := failing(view, args.fail_on)):
        print(f"physgap: {len(bad)} open gap(s) at {args.fail_on} or worse: "
              + ", ".join(g.id for g in bad), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
