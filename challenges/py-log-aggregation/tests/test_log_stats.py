import io
import unittest
from contextlib import redirect_stdout
from datetime import datetime, timedelta, timezone
from pathlib import Path

from log_stats import (
    EndpointStats,
    LogRecord,
    Report,
    aggregate,
    analyze,
    main,
    normalize_endpoint,
    parse_line,
    percentile,
)

SAMPLE_LOG = Path(__file__).resolve().parent.parent / "data" / "access.log"

LINE = (
    '203.0.113.7 - - [12/Mar/2024:10:15:32 +0000] '
    '"GET /api/products/42?ref=home HTTP/1.1" 200 5123 '
    '"https://shop.example.com/" "Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0" 0.034'
)


def line_with(latency="0.034", status="200", request="GET /api/products/42?ref=home HTTP/1.1"):
    return (
        f'203.0.113.7 - - [12/Mar/2024:10:15:32 +0000] "{request}" {status} 5123 '
        f'"-" "curl/8.5.0" {latency}'
    )


def record(method="GET", target="/", status=200, latency_ms=10):
    return LogRecord(
        client="192.0.2.1",
        user="-",
        timestamp=datetime(2024, 3, 12, 10, 0, tzinfo=timezone.utc),
        method=method,
        target=target,
        protocol="HTTP/1.1",
        status=status,
        bytes_sent=100,
        referer="-",
        user_agent="test",
        latency_ms=latency_ms,
    )


class ParseLineTest(unittest.TestCase):
    def test_parses_every_field_of_a_typical_line(self):
        self.assertEqual(
            parse_line(LINE),
            LogRecord(
                client="203.0.113.7",
                user="-",
                timestamp=datetime(2024, 3, 12, 10, 15, 32, tzinfo=timezone.utc),
                method="GET",
                target="/api/products/42?ref=home",
                protocol="HTTP/1.1",
                status=200,
                bytes_sent=5123,
                referer="https://shop.example.com/",
                user_agent="Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0",
                latency_ms=34,
            ),
        )

    def test_accepts_a_trailing_newline(self):
        self.assertEqual(parse_line(LINE + "\n"), parse_line(LINE))

    def test_parses_ipv6_clients_users_and_empty_bodies(self):
        rec = parse_line(
            '2001:db8::1f - carol [01/Feb/2024:23:59:59 +0000] "DELETE /api/cart/items/7 HTTP/2.0" '
            '204 - "-" "okhttp/4.12.0" 0.012'
        )
        self.assertIsNotNone(rec)
        self.assertEqual(rec.client, "2001:db8::1f")
        self.assertEqual(rec.user, "carol")
        self.assertEqual(rec.method, "DELETE")
        self.assertEqual(rec.protocol, "HTTP/2.0")
        self.assertEqual(rec.status, 204)
        self.assertEqual(rec.bytes_sent, 0)
        self.assertEqual(rec.latency_ms, 12)

    def test_keeps_the_timezone_of_the_timestamp(self):
        rec = parse_line(LINE.replace("+0000", "+0200"))
        self.assertIsNotNone(rec)
        self.assertEqual(rec.timestamp.utcoffset(), timedelta(hours=2))
        self.assertEqual(rec.timestamp, datetime(2024, 3, 12, 8, 15, 32, tzinfo=timezone.utc))

    def test_converts_seconds_to_rounded_milliseconds(self):
        cases = {
            "0.034": 34,
            "0.000": 0,
            "0.5": 500,
            "1.003": 1003,
            "2.006": 2006,
            "30.013": 30013,
            "0.0126": 13,
        }
        for text, expected in cases.items():
            with self.subTest(latency=text):
                rec = parse_line(line_with(latency=text))
                self.assertIsNotNone(rec)
                self.assertEqual(rec.latency_ms, expected)
                self.assertIsInstance(rec.latency_ms, int)

    def test_returns_none_for_malformed_lines(self):
        cases = {
            "empty": "",
            "truncated": LINE[:60],
            "not a log line": "<html><head><title>502 Bad Gateway</title></head></html>",
            "dash request": '203.0.113.7 - - [12/Mar/2024:10:15:32 +0000] "-" 400 0 "-" "-" 0.000',
            "binary request": line_with(request=r"\x16\x03\x01\x00\xA5\x01"),
            "lowercase method": line_with(request="get /api/products HTTP/1.1"),
            "relative target": line_with(request="GET api/products HTTP/1.1"),
            "missing protocol": line_with(request="GET /api/products"),
            "non-numeric status": line_with(status="2OO"),
            "status out of range": line_with(status="600"),
            "dash latency": line_with(latency="-"),
            "negative latency": line_with(latency="-0.010"),
            "missing latency": LINE.rsplit(" ", 1)[0],
            "extra field": LINE + " extra",
            "impossible time": LINE.replace("10:15:32", "25:61:00"),
            "unknown month": LINE.replace("Mar", "Mrz"),
            "impossible date": LINE.replace("12/Mar", "30/Feb"),
        }
        for name, line in cases.items():
            with self.subTest(name):
                self.assertIsNone(parse_line(line))


class NormalizeEndpointTest(unittest.TestCase):
    def test_normalizes_targets_into_routes(self):
        cases = [
            (("GET", "/api/products"), "GET /api/products"),
            (("GET", "/api/products?page=2&sort=price"), "GET /api/products"),
            (("GET", "/api/products/"), "GET /api/products"),
            (("GET", "/api/products/42"), "GET /api/products/:id"),
            (("GET", "/api/products/42/?ref=home"), "GET /api/products/:id"),
            (("GET", "/api/users/7/orders/991"), "GET /api/users/:id/orders/:id"),
            (("GET", "/api/orders/e9cb288a-fe54-409b-aa3f-551104a3edc7"), "GET /api/orders/:id"),
            (("GET", "/api/orders/E9CB288A-FE54-409B-AA3F-551104A3EDC7"), "GET /api/orders/:id"),
            (("DELETE", "/api/cart/items/12"), "DELETE /api/cart/items/:id"),
            (("GET", "/api/v2/items"), "GET /api/v2/items"),
            (("GET", "/api/items/42abc"), "GET /api/items/42abc"),
            (("GET", "/static/app.js?v=3.4.1"), "GET /static/app.js"),
            (("GET", "/"), "GET /"),
            (("GET", "/?utm_source=newsletter"), "GET /"),
        ]
        for (method, target), expected in cases:
            with self.subTest(target=target):
                self.assertEqual(normalize_endpoint(method, target), expected)


class PercentileTest(unittest.TestCase):
    def test_nearest_rank(self):
        self.assertEqual(percentile([7], 95), 7)
        self.assertEqual(percentile(list(range(1, 21)), 95), 19)
        self.assertEqual(percentile(list(range(1, 22)), 95), 20)
        self.assertEqual(percentile(list(range(1, 101)), 95), 95)
        self.assertEqual(percentile([1, 2, 3, 4], 50), 2)
        self.assertEqual(percentile([5, 1, 4, 2, 3], 100), 5)
        self.assertEqual(percentile([5, 1, 4, 2, 3], 1), 1)

    def test_does_not_depend_on_input_order_or_modify_the_input(self):
        values = [30, 10, 20, 10, 50, 40]
        self.assertEqual(percentile(values, 95), 50)
        self.assertEqual(percentile(values, 50), 20)
        self.assertEqual(values, [30, 10, 20, 10, 50, 40])

    def test_rejects_invalid_arguments(self):
        with self.assertRaises(ValueError):
            percentile([], 95)
        with self.assertRaises(ValueError):
            percentile([1, 2, 3], 0)
        with self.assertRaises(ValueError):
            percentile([1, 2, 3], 101)


class AggregateTest(unittest.TestCase):
    def test_groups_by_endpoint_and_computes_stats(self):
        records = [record("GET", f"/api/products/{i}", latency_ms=i) for i in range(1, 21)]
        records += [
            record("GET", "/health", latency_ms=2),
            record("GET", "/health", latency_ms=3),
            record("POST", "/api/orders", status=201, latency_ms=400),
            record("POST", "/api/orders", status=503, latency_ms=30000),
            record("POST", "/api/orders", status=400, latency_ms=20),
            record("POST", "/api/orders", status=500, latency_ms=90),
        ]
        self.assertEqual(
            aggregate(records),
            [
                EndpointStats("GET /api/products/:id", count=20, p95_latency_ms=19, error_rate=0.0),
                EndpointStats("POST /api/orders", count=4, p95_latency_ms=30000, error_rate=0.5),
                EndpointStats("GET /health", count=2, p95_latency_ms=3, error_rate=0.0),
            ],
        )

    def test_orders_ties_by_endpoint_name(self):
        records = [
            record("GET", "/b"),
            record("GET", "/a"),
            record("POST", "/a"),
            record("GET", "/c"),
            record("GET", "/c"),
        ]
        self.assertEqual(
            [s.endpoint for s in aggregate(records)],
            ["GET /c", "GET /a", "GET /b", "POST /a"],
        )

    def test_only_5xx_responses_are_errors(self):
        statuses = [200, 201, 204, 301, 304, 400, 401, 404, 429, 499, 500, 502, 503, 599]
        [stats] = aggregate(record(status=s) for s in statuses)
        self.assertAlmostEqual(stats.error_rate, 4 / 14)

    def test_empty_input(self):
        self.assertEqual(aggregate([]), [])


class AnalyzeTest(unittest.TestCase):
    def test_counts_malformed_lines_and_skips_blank_ones(self):
        lines = [
            LINE + "\n",
            "\n",
            "garbage\n",
            "   \n",
            line_with(latency="0.100", status="503") + "\n",
            line_with(latency="-") + "\n",
        ]
        report = analyze(lines)
        self.assertIsInstance(report, Report)
        self.assertEqual(report.total_lines, 4)
        self.assertEqual(report.parsed, 2)
        self.assertEqual(report.malformed, 2)
        self.assertEqual(report.malformed_lines, [3, 6])
        self.assertEqual(
            report.endpoints,
            [EndpointStats("GET /api/products/:id", count=2, p95_latency_ms=100, error_rate=0.5)],
        )

    def test_accepts_any_iterable_of_lines(self):
        report = analyze(iter([LINE]))
        self.assertEqual(report.parsed, 1)


class SampleLogTest(unittest.TestCase):
    """End-to-end check against data/access.log."""

    @classmethod
    def setUpClass(cls):
        with open(SAMPLE_LOG, encoding="utf-8") as f:
            cls.report = analyze(f)

    def test_line_counts(self):
        self.assertEqual(self.report.total_lines, 420)
        self.assertEqual(self.report.parsed, 406)
        self.assertEqual(self.report.malformed, 14)
        self.assertEqual(
            self.report.malformed_lines,
            [11, 35, 45, 49, 60, 93, 135, 165, 190, 216, 259, 348, 389, 393],
        )

    def test_endpoint_stats(self):
        expected = [
            # endpoint, count, p95 (ms), number of 5xx responses
            ("GET /api/products", 68, 89, 0),
            ("GET /api/products/:id", 66, 60, 0),
            ("GET /api/search", 42, 492, 2),
            ("GET /health", 39, 4, 0),
            ("POST /api/cart/items", 35, 117, 0),
            ("GET /api/orders/:id", 32, 176, 1),
            ("POST /api/orders", 29, 963, 2),
            ("GET /", 23, 20, 0),
            ("GET /static/app.js", 23, 6, 0),
            ("DELETE /api/cart/items/:id", 17, 84, 0),
            ("POST /api/auth/login", 16, 357, 0),
            ("GET /api/users/:id/orders", 11, 186, 0),
            ("PUT /api/users/:id", 5, 129, 0),
        ]
        self.assertEqual(
            [(s.endpoint, s.count, s.p95_latency_ms) for s in self.report.endpoints],
            [(e, c, p) for e, c, p, _ in expected],
        )
        for stats, (_, count, _, errors) in zip(self.report.endpoints, expected):
            with self.subTest(stats.endpoint):
                self.assertAlmostEqual(stats.error_rate, errors / count)

    def test_command_line(self):
        out = io.StringIO()
        with redirect_stdout(out):
            status = main(["log_stats.py", str(SAMPLE_LOG)])
        self.assertEqual(status, 0)
        self.assertIn("malformed: 14", out.getvalue())
        self.assertIn("GET /api/search", out.getvalue())


if __name__ == "__main__":
    unittest.main()
