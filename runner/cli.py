"""Command line of mtls-runner: parse arguments, wire the stages, set exit codes."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Sequence

from runner import __version__
from runner.config.loader import (
    Config,
    collect_config,
    load_config,
    select_jobs,
    select_scheduled_jobs,
)
from runner.config.models import json_schema
from runner.config.units import parse_size
from runner.demo.run import DEMO_DURATION_S, run_demo
from runner.diagnosis.doctor import diagnose_call
from runner.errors import ConfigError, MtlsRunnerError, OutputClosed, OutputError
from runner.execution.dryrun import dry_run
from runner.execution.gcfreeze import freeze_long_lived_objects
from runner.execution.material import KeyMaterial
from runner.execution.once import run_once
from runner.execution.plan import plan_calls
from runner.execution.service import Service
from runner.execution.signals import signals_handled
from runner.report.doctor import format_report, format_summary
from runner.report.findings import FORMATS, ValidationReport, render
from runner.report.sinks import (
    ConsoleSink,
    Fanout,
    JsonLinesSink,
    Output,
    RecordSink,
)
from runner.tls.validation import (
    DEFAULT_EXPIRY_WARNING_DAYS,
    MAX_EXPIRY_WARNING_DAYS,
    check_key_material,
)
from runner.transport.capabilities import check_capabilities
from runner.transport.executor import (
    DEFAULT_CONCURRENCY,
    DEFAULT_PER_HOST,
    Executor,
)
from runner.transport.request import DEFAULT_BODY_LIMIT, MAX_BODY_LIMIT

log = logging.getLogger("runner")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mtls-runner",
        description="Call mutual-TLS HTTPS endpoints described in YAML job files.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_validate(commands)

    run = commands.add_parser(
        "run",
        help="call the endpoints of job files",
        description="Run the job files as a service that calls each job's "
        "endpoints on its schedule until SIGINT or SIGTERM (SIGHUP reloads the "
        "files), call every endpoint once (--once), or show what would be called "
        "(--dry-run).",
    )
    mode = run.add_mutually_exclusive_group()
    mode.add_argument(
        "--once", action="store_true", help="call every endpoint once, then exit"
    )
    mode.add_argument(
        "--dry-run",
        action="store_true",
        help="load keys and plan every request, print them with curl commands, "
        "and open no connection",
    )
    run.add_argument(
        "--json", action="store_true", help="print one JSON record per call on stdout"
    )
    run.add_argument(
        "--response-log",
        metavar="FILE",
        help="append every record as a JSON line to FILE",
    )
    run.add_argument(
        "--job",
        action="append",
        default=[],
        metavar="NAME",
        help="run only this job (repeatable)",
    )
    run.add_argument(
        "--concurrency",
        type=_positive_int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"calls in flight at once (default {DEFAULT_CONCURRENCY})",
    )
    run.add_argument(
        "--host-concurrency",
        type=_positive_int,
        default=DEFAULT_PER_HOST,
        metavar="N",
        help="calls in flight at once to one host and port, at most --concurrency "
        f"(default {DEFAULT_PER_HOST})",
    )
    run.add_argument(
        "--body-limit",
        type=_body_limit,
        default=DEFAULT_BODY_LIMIT,
        metavar="SIZE",
        help="bytes of each response body kept in records, as a number of bytes or "
        f"a size such as 64KiB (default {DEFAULT_BODY_LIMIT}, at most 16MiB)",
    )
    _add_verbosity(run)
    run.add_argument("paths", nargs="+", metavar="PATH", help="job file or folder")

    doctor = commands.add_parser(
        "doctor",
        help="probe the endpoints of job files and explain what fails",
        description="For each endpoint: probe the TLS handshake, compare the "
        "server's chain and requested CAs with the job's truststore and identity, "
        "make one real call, and print a checklist ending with the most likely fix.",
    )
    doctor.add_argument(
        "--job",
        action="append",
        default=[],
        metavar="NAME",
        help="diagnose only this job (repeatable)",
    )
    doctor.add_argument("paths", nargs="+", metavar="PATH", help="job file or folder")

    commands.add_parser("schema", help="print the job file JSON Schema")

    demo = commands.add_parser(
        "demo", help="run the example jobs against a local mTLS server on 127.0.0.1"
    )
    demo.add_argument(
        "--duration",
        type=_positive_float,
        default=DEMO_DURATION_S,
        metavar="SECONDS",
        help=f"seconds the jobs run on their schedules (default {DEMO_DURATION_S:g})",
    )
    _add_verbosity(demo)
    return parser


def _add_validate(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    validate = commands.add_parser(
        "validate",
        help="check job files and their key material, reporting every problem",
        description="Check job files and the key material they name, without "
        "network access. Exit 0 without errors (warnings allowed), 1 with errors, "
        "2 for usage errors.",
    )
    validate.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text for people, one JSON document, or GitHub workflow annotations "
        "(default text)",
    )
    validate.add_argument(
        "--schema-only",
        action="store_true",
        help="check the files only: read no keys, certificates or secrets",
    )
    validate.add_argument(
        "--expiry-warning",
        type=_expiry_days,
        default=DEFAULT_EXPIRY_WARNING_DAYS,
        metavar="DAYS",
        help="warn about certificates that expire within DAYS days "
        f"(default {DEFAULT_EXPIRY_WARNING_DAYS})",
    )
    validate.add_argument("paths", nargs="+", metavar="PATH", help="job file or folder")


def _add_verbosity(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-v", "--verbose", action="count", default=0, help="log more (repeatable)"
    )
    group.add_argument(
        "-q", "--quiet", action="store_true", help="print failed calls and errors only"
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number, got {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {value}")
    return value


def _body_limit(text: str) -> int:
    """Parse a size as max_response_bytes takes it (4096, 512KiB), up to 16 MiB."""
    try:
        value = parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    if value > MAX_BODY_LIMIT:
        raise argparse.ArgumentTypeError(
            f"expected at most {MAX_BODY_LIMIT} bytes (16MiB), got {text!r}; the "
            "whole body is still searched for 'body_contains'"
        )
    return value


def _expiry_days(text: str) -> int:
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(
            f"expected a whole number of 0 or more, got {text!r}"
        )
    if len(text.strip()) > len(str(MAX_EXPIRY_WARNING_DAYS)) or (
        int(text) > MAX_EXPIRY_WARNING_DAYS
    ):
        raise argparse.ArgumentTypeError(
            f"expected at most {MAX_EXPIRY_WARNING_DAYS} days (100 years), got {text}"
        )
    return int(text)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected more than 0, got {text}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # A service logs its start, runs and stops by default; one-shot commands
    # log warnings only.
    service = args.command == "demo" or (
        args.command == "run" and not (args.once or args.dry_run)
    )
    _configure_logging(
        getattr(args, "verbose", 0),
        getattr(args, "quiet", False),
        logging.INFO if service else logging.WARNING,
    )
    try:
        if args.command == "validate":
            return _validate(args)
        if args.command == "run":
            return _run(args)
        if args.command == "doctor":
            return _doctor(args)
        if args.command == "schema":
            Output(sys.stdout).write(json.dumps(json_schema(), indent=2) + "\n")
            return 0
        if args.command == "demo":
            return run_demo(duration=args.duration, quiet=args.quiet)
    except ConfigError as e:
        _print_findings(e)
        return e.exit_code
    except (OutputClosed, BrokenPipeError):
        _release_failed_streams()
        return OutputClosed.exit_code
    except MtlsRunnerError as e:
        with contextlib.suppress(OSError):
            print(f"mtls-runner: error: {e}", file=sys.stderr)
        if isinstance(e, OutputError):
            _release_failed_streams()
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    parser.error(f"unknown command {args.command}")
    return 2


def _validate(args: argparse.Namespace) -> int:
    config, findings = collect_config(args.paths)
    if not args.schema_only:
        findings += check_key_material(config, expiry_warning_days=args.expiry_warning)
    report = ValidationReport.of(len(config.files), findings)
    Output(sys.stdout).write(render(report, args.format))
    return report.exit_code


def _run(args: argparse.Namespace) -> int:
    check_capabilities()
    config = load_config(args.paths)
    jobs = select_jobs(config, args.job)
    if args.dry_run:
        return dry_run(config, jobs, Output(sys.stdout), body_limit=args.body_limit)
    if not args.once:
        select_scheduled_jobs(config, args.job)  # before the response log opens
    sinks: list[RecordSink] = [ConsoleSink(sys.stderr, quiet=args.quiet)]
    if args.json:
        sinks.append(JsonLinesSink(sys.stdout))
    if args.response_log:
        sinks.append(JsonLinesSink.append_to(args.response_log))
    sink = Fanout(sinks)
    executor = Executor(concurrency=args.concurrency, per_host=args.host_concurrency)
    try:
        if args.once:
            material = KeyMaterial(config)
            calls = plan_calls(config, jobs, material, body_limit=args.body_limit)
            freeze_long_lived_objects()
            return 0 if run_once(calls, executor, sink) else 1
        return _serve(args, config, executor, sink)
    finally:
        executor.close()
        sink.close()


def _doctor(args: argparse.Namespace) -> int:
    check_capabilities()
    config = load_config(args.paths)
    jobs = select_jobs(config, args.job)
    calls = plan_calls(config, jobs, KeyMaterial(config))
    executor = Executor(concurrency=1)
    output = Output(sys.stdout)
    reports = []
    try:
        for call in calls:
            report = diagnose_call(call, executor)
            output.write(format_report(report))
            reports.append(report)
    finally:
        executor.close()
    output.write(format_summary(reports))
    return 0 if all(report.ok for report in reports) else 1


def _serve(
    args: argparse.Namespace, config: Config, executor: Executor, sink: RecordSink
) -> int:
    service = Service(
        args.paths, executor, sink, job_names=args.job, body_limit=args.body_limit
    )
    service.load(config)
    with signals_handled(service):
        service.run()
    return 1 if service.failed else 0


def _print_findings(error: ConfigError) -> None:
    for finding in error.findings:
        print(finding.format(), file=sys.stderr)
    errors = sum(1 for f in error.findings if f.severity == "error")
    print(
        f"mtls-runner: {errors} error{'s' if errors != 1 else ''} in the job files; "
        "nothing was run",
        file=sys.stderr,
    )


def _release_failed_streams() -> None:
    """Point standard streams that cannot be written at /dev/null.

    Python flushes them again at exit and would print a traceback for the same
    failure, so their unwritten rest goes to /dev/null instead.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:
            with contextlib.suppress(OSError, ValueError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, stream.fileno())
                os.close(devnull)


def _configure_logging(verbose: int, quiet: bool, default: int) -> None:
    level = default
    if verbose == 1:
        level = logging.INFO
    elif verbose > 1:
        level = logging.DEBUG
    elif quiet:
        level = logging.ERROR
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="mtls-runner: %(levelname)s: %(message)s",
        force=True,
    )
