"""Per-endpoint statistics for an HTTP access log.

Implement the functions that raise NotImplementedError (see README.md).
The dataclasses, format_report() and main() are provided; you may add helpers.

Run it on the sample log with:

    python3 log_stats.py data/access.log
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Sequence


@dataclass(frozen=True)
class LogRecord:
    """One successfully parsed access-log line."""

    client: str  # client address (IPv4 or IPv6), as written in the log
    user: str  # authenticated user, or "-" when anonymous
    timestamp: datetime  # timezone-aware
    method: str  # e.g. "GET"
    target: str  # request target as logged, including any query string
    protocol: str  # e.g. "HTTP/1.1"
    status: int  # HTTP status code, 100..599
    bytes_sent: int  # response body size; "-" in the log means 0
    referer: str
    user_agent: str
    latency_ms: int  # request time, converted to whole milliseconds (rounded)


@dataclass(frozen=True)
class EndpointStats:
    endpoint: str  # normalized endpoint, e.g. "GET /api/users/:id"
    count: int  # number of requests
    p95_latency_ms: int  # 95th percentile latency (nearest-rank method)
    error_rate: float  # share of requests answered with a 5xx status, 0.0..1.0


@dataclass(frozen=True)
class Report:
    total_lines: int  # non-blank lines read
    parsed: int  # lines parsed into a LogRecord
    malformed: int  # non-blank lines that could not be parsed
    malformed_lines: list[int]  # 1-based line numbers of the malformed lines
    endpoints: list[EndpointStats]  # sorted by count (desc), then endpoint (asc)


def parse_line(line: str) -> LogRecord | None:
    """Parses one access-log line.

    Returns a LogRecord, or None if the line is malformed (see README.md for the
    exact format and what counts as malformed). A trailing newline is allowed.
    Must never raise on bad input.
    """
    raise NotImplementedError


def normalize_endpoint(method: str, target: str) -> str:
    """Groups requests by route.

    >>> normalize_endpoint("GET", "/api/users/42/?include=orders")
    'GET /api/users/:id'

    Drops the query string, replaces numeric and UUID path segments with ":id"
    and removes a trailing slash (except for the root path "/").
    """
    raise NotImplementedError


def percentile(values: Sequence[int], pct: float) -> int:
    """The pct-th percentile of values, using the nearest-rank method.

    Raises ValueError if values is empty or pct is not in (0, 100].
    Must not modify values.
    """
    raise NotImplementedError


def aggregate(records: Iterable[LogRecord]) -> list[EndpointStats]:
    """Per-endpoint statistics, sorted by count (descending), then endpoint (ascending)."""
    raise NotImplementedError


def analyze(lines: Iterable[str]) -> Report:
    """Parses every line (e.g. an open file) and aggregates the well-formed ones.

    Blank lines are skipped and not counted at all; line numbers in
    Report.malformed_lines are 1-based positions in the input, blank lines included.
    """
    raise NotImplementedError


def format_report(report: Report) -> str:
    """Renders a report as a plain-text table."""
    width = max([len("ENDPOINT")] + [len(s.endpoint) for s in report.endpoints])
    out = [
        f"lines: {report.total_lines}  parsed: {report.parsed}  malformed: {report.malformed}",
        "",
        f"{'ENDPOINT':<{width}}  {'COUNT':>6}  {'P95 MS':>7}  {'ERRORS':>7}",
    ]
    for s in report.endpoints:
        out.append(
            f"{s.endpoint:<{width}}  {s.count:>6}  {s.p95_latency_ms:>7}  {s.error_rate:>7.1%}"
        )
    return "\n".join(out)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} ACCESS_LOG", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8", errors="replace") as f:
        report = analyze(f)
    print(format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
