import random
import time
import unittest
from itertools import groupby

from scheduler import (
    Allocation,
    Meeting,
    Room,
    allocate_rooms,
    free_slots,
    merge_intervals,
    min_rooms,
)


# ---------------------------------------------------------------------------
# Brute-force references on an integer time grid: a half-open interval [s, e)
# covers the unit cells s, s+1, ..., e-1. Slow, but obviously correct.
# ---------------------------------------------------------------------------


def covered_cells(intervals):
    return {t for s, e in intervals for t in range(s, e)}


def runs(cells):
    """Maximal runs of consecutive integers, as half-open intervals."""
    ordered = sorted(cells)
    result = []
    for _, group in groupby(enumerate(ordered), key=lambda p: p[1] - p[0]):
        block = [t for _, t in group]
        result.append((block[0], block[-1] + 1))
    return result


def brute_merge(intervals):
    return runs(covered_cells(intervals))


def brute_min_rooms(intervals):
    counts = {}
    for s, e in intervals:
        for t in range(s, e):
            counts[t] = counts.get(t, 0) + 1
    return max(counts.values(), default=0)


def brute_free_slots(busy, window, min_duration):
    taken = covered_cells(iv for cal in busy for iv in cal)
    free = {t for t in range(window[0], window[1]) if t not in taken}
    return [(s, e) for s, e in runs(free) if e - s >= min_duration]


def random_intervals(rng, n, lo=0, hi=60, max_len=12):
    out = []
    for _ in range(n):
        s = rng.randint(lo, hi)
        out.append((s, s + rng.randint(1, max_len)))
    return out


class MergeIntervalsTest(unittest.TestCase):
    def test_basic_cases(self):
        cases = [
            ([], []),
            ([(1, 3)], [(1, 3)]),
            ([(5, 8), (1, 3), (2, 4)], [(1, 4), (5, 8)]),
            ([(1, 3), (3, 5)], [(1, 5)]),  # touching intervals merge
            ([(1, 3), (4, 5)], [(1, 3), (4, 5)]),  # a gap of one unit does not
            ([(1, 10), (2, 3), (4, 5)], [(1, 10)]),
            ([(2, 6), (2, 6), (2, 6)], [(2, 6)]),
            ([(1, 4), (2, 3), (3, 7), (9, 10), (7, 8)], [(1, 8), (9, 10)]),
            ([(-30, -10), (-15, 0), (0, 5)], [(-30, 5)]),
        ]
        for intervals, expected in cases:
            with self.subTest(intervals=intervals):
                self.assertEqual(merge_intervals(intervals), expected)

    def test_accepts_any_iterable_and_does_not_modify_the_input(self):
        intervals = [(5, 8), (1, 3), (2, 4)]
        self.assertEqual(merge_intervals(iter(intervals)), [(1, 4), (5, 8)])
        self.assertEqual(merge_intervals(intervals), [(1, 4), (5, 8)])
        self.assertEqual(intervals, [(5, 8), (1, 3), (2, 4)])

    def test_returns_tuples(self):
        for interval in merge_intervals([(1, 3), (2, 5)]):
            self.assertIsInstance(interval, tuple)

    def test_rejects_empty_and_reversed_intervals(self):
        for bad in ([(3, 3)], [(1, 2), (5, 1)]):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                merge_intervals(bad)

    def test_matches_brute_force(self):
        rng = random.Random(1)
        for _ in range(300):
            intervals = random_intervals(rng, rng.randint(0, 12))
            self.assertEqual(merge_intervals(intervals), brute_merge(intervals), intervals)


class MinRoomsTest(unittest.TestCase):
    def test_basic_cases(self):
        cases = [
            ([], 0),
            ([(9, 10)], 1),
            ([(0, 30), (5, 10), (15, 20)], 2),
            ([(1, 5), (5, 10), (10, 15)], 1),  # back-to-back meetings share a room
            ([(1, 5), (5, 10), (5, 10)], 2),
            ([(1, 10), (1, 10), (1, 10), (1, 10)], 4),
            ([(1, 4), (2, 5), (3, 6), (4, 7), (5, 8)], 3),
            ([(0, 100), (10, 20), (20, 30), (30, 40), (35, 45)], 3),
        ]
        for intervals, expected in cases:
            with self.subTest(intervals=intervals):
                self.assertEqual(min_rooms(intervals), expected)

    def test_rejects_empty_and_reversed_intervals(self):
        for bad in ([(3, 3)], [(1, 2), (5, 1)]):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                min_rooms(bad)

    def test_matches_brute_force(self):
        rng = random.Random(2)
        for _ in range(300):
            intervals = random_intervals(rng, rng.randint(0, 15), max_len=rng.choice([1, 5, 20]))
            self.assertEqual(min_rooms(intervals), brute_min_rooms(intervals), intervals)


class FreeSlotsTest(unittest.TestCase):
    def test_example_from_the_readme(self):
        alice = [(9 * 60, 10 * 60), (12 * 60, 13 * 60)]
        bob = [(9 * 60 + 30, 11 * 60), (15 * 60, 18 * 60)]
        self.assertEqual(
            free_slots([alice, bob], (8 * 60, 17 * 60), 60),
            [(8 * 60, 9 * 60), (11 * 60, 12 * 60), (13 * 60, 15 * 60)],
        )
        self.assertEqual(
            free_slots([alice, bob], (8 * 60, 17 * 60), 90),
            [(13 * 60, 15 * 60)],
        )

    def test_nobody_busy(self):
        self.assertEqual(free_slots([], (0, 100), 30), [(0, 100)])
        self.assertEqual(free_slots([[], []], (0, 100), 100), [(0, 100)])
        self.assertEqual(free_slots([[]], (0, 100), 101), [])

    def test_slot_of_exactly_min_duration_is_kept(self):
        self.assertEqual(free_slots([[(10, 20)]], (0, 30), 10), [(0, 10), (20, 30)])
        self.assertEqual(free_slots([[(10, 20)]], (0, 30), 11), [])

    def test_clips_busy_time_to_the_window(self):
        self.assertEqual(free_slots([[(0, 15), (45, 100)]], (10, 50), 5), [(15, 45)])
        self.assertEqual(free_slots([[(0, 10), (50, 60)]], (10, 50), 5), [(10, 50)])
        self.assertEqual(free_slots([[(0, 100)]], (10, 50), 1), [])

    def test_overlapping_and_touching_busy_time_leaves_no_gap(self):
        busy = [[(30, 40), (10, 20)], [(20, 30), (15, 25)], [(38, 45)]]
        self.assertEqual(free_slots(busy, (0, 60), 1), [(0, 10), (45, 60)])

    def test_rejects_invalid_arguments(self):
        with self.assertRaises(ValueError):
            free_slots([], (10, 10), 5)
        with self.assertRaises(ValueError):
            free_slots([], (20, 10), 5)
        with self.assertRaises(ValueError):
            free_slots([], (0, 10), 0)
        with self.assertRaises(ValueError):
            free_slots([[(5, 5)]], (0, 10), 1)

    def test_matches_brute_force(self):
        rng = random.Random(3)
        for _ in range(300):
            busy = [random_intervals(rng, rng.randint(0, 5), lo=-10, hi=70) for _ in range(rng.randint(0, 4))]
            start = rng.randint(0, 40)
            window = (start, start + rng.randint(1, 50))
            min_duration = rng.randint(1, 10)
            self.assertEqual(
                free_slots(busy, window, min_duration),
                brute_free_slots(busy, window, min_duration),
                (busy, window, min_duration),
            )


def check_allocation(test, meetings, rooms, buffer, allocation):
    """Checks an allocation against the rules in the README, meeting by meeting."""
    test.assertIsInstance(allocation, Allocation)
    by_id = {m.id: m for m in meetings}
    order = sorted(meetings, key=lambda m: (m.start, m.id))
    unassigned = set(allocation.unassigned)
    test.assertEqual(
        allocation.unassigned,
        [m.id for m in order if m.id in unassigned],
        "unassigned meetings must be listed once each, in processing order",
    )
    test.assertEqual(
        set(allocation.assignments) | set(allocation.unassigned), set(by_id), "every meeting is accounted for"
    )
    test.assertFalse(set(allocation.assignments) & set(allocation.unassigned))

    ranked = sorted(rooms, key=lambda r: (r.capacity, r.name))
    available_at = {r.name: None for r in rooms}  # None: never used
    for m in order:
        candidates = [
            r.name
            for r in ranked
            if r.capacity >= m.attendees and (available_at[r.name] is None or available_at[r.name] <= m.start)
        ]
        if not candidates:
            test.assertIn(m.id, allocation.unassigned, f"no room could host {m}")
            continue
        test.assertEqual(allocation.assignments.get(m.id), candidates[0], f"best room for {m}")
        available_at[candidates[0]] = m.end + buffer


class AllocateRoomsTest(unittest.TestCase):
    ROOMS = [Room("Atlas", 12), Room("Bonsai", 4), Room("Cedar", 4), Room("Dune", 8)]

    def test_example_from_the_readme(self):
        meetings = [
            Meeting("standup", 540, 555, 8),
            Meeting("1on1", 540, 570, 2),
            Meeting("design", 550, 610, 4),
            Meeting("allhands", 560, 620, 30),
            Meeting("interview", 555, 615, 3),
            Meeting("retro", 600, 660, 10),
        ]
        allocation = allocate_rooms(meetings, self.ROOMS)
        self.assertEqual(
            allocation.assignments,
            {"1on1": "Bonsai", "standup": "Dune", "design": "Cedar", "interview": "Dune", "retro": "Atlas"},
        )
        self.assertEqual(allocation.unassigned, ["allhands"])

    def test_picks_the_smallest_room_that_fits_then_the_first_by_name(self):
        allocation = allocate_rooms([Meeting("m", 0, 30, 3)], self.ROOMS)
        self.assertEqual(allocation.assignments, {"m": "Bonsai"})
        allocation = allocate_rooms([Meeting("m", 0, 30, 5)], self.ROOMS)
        self.assertEqual(allocation.assignments, {"m": "Dune"})
        allocation = allocate_rooms([Meeting("m", 0, 30, 12)], self.ROOMS)
        self.assertEqual(allocation.assignments, {"m": "Atlas"})

    def test_room_order_in_the_input_does_not_matter(self):
        rooms = list(reversed(self.ROOMS))
        allocation = allocate_rooms([Meeting("m1", 0, 30, 3), Meeting("m2", 0, 30, 3)], rooms)
        self.assertEqual(allocation.assignments, {"m1": "Bonsai", "m2": "Cedar"})

    def test_meetings_starting_together_are_served_by_id(self):
        rooms = [Room("small", 2), Room("large", 10)]
        allocation = allocate_rooms([Meeting("b", 0, 10, 2), Meeting("a", 0, 10, 2)], rooms)
        self.assertEqual(allocation.assignments, {"a": "small", "b": "large"})

    def test_a_room_is_free_again_when_the_meeting_ends(self):
        rooms = [Room("only", 5)]
        meetings = [Meeting("first", 0, 30), Meeting("second", 30, 60), Meeting("overlap", 59, 70)]
        allocation = allocate_rooms(meetings, rooms)
        self.assertEqual(allocation.assignments, {"first": "only", "second": "only"})
        self.assertEqual(allocation.unassigned, ["overlap"])

    def test_buffer_after_each_meeting(self):
        rooms = [Room("a", 5), Room("b", 5)]
        meetings = [Meeting("m1", 0, 30), Meeting("m2", 40, 60), Meeting("m3", 44, 50), Meeting("m4", 45, 50)]
        allocation = allocate_rooms(meetings, rooms, buffer=15)
        # "a" is busy until 30 + 15 = 45: m2 and m3 go elsewhere or nowhere, m4 fits exactly.
        self.assertEqual(allocation.assignments, {"m1": "a", "m2": "b", "m4": "a"})
        self.assertEqual(allocation.unassigned, ["m3"])

    def test_greedy_does_not_hold_big_rooms_back(self):
        # Processing in start order, the early small meeting takes the only free room that
        # fits it, even though that later leaves no room for the big one. This is intended.
        rooms = [Room("big", 10)]
        allocation = allocate_rooms([Meeting("small", 0, 60, 2), Meeting("big-one", 30, 60, 10)], rooms)
        self.assertEqual(allocation.assignments, {"small": "big"})
        self.assertEqual(allocation.unassigned, ["big-one"])

    def test_unassigned_meetings_are_listed_in_processing_order(self):
        rooms = [Room("r", 1)]
        meetings = [Meeting("z", 5, 10, 2), Meeting("y", 1, 2, 3), Meeting("x", 5, 6, 9)]
        allocation = allocate_rooms(meetings, rooms)
        self.assertEqual(allocation.assignments, {})
        self.assertEqual(allocation.unassigned, ["y", "x", "z"])

    def test_edge_inputs(self):
        self.assertEqual(allocate_rooms([], self.ROOMS), Allocation({}, []))
        self.assertEqual(allocate_rooms([Meeting("m", 0, 1)], []), Allocation({}, ["m"]))

    def test_does_not_modify_its_inputs(self):
        meetings = [Meeting("b", 10, 20), Meeting("a", 0, 5)]
        rooms = [Room("z", 3), Room("y", 1)]
        allocate_rooms(meetings, rooms)
        self.assertEqual(meetings, [Meeting("b", 10, 20), Meeting("a", 0, 5)])
        self.assertEqual(rooms, [Room("z", 3), Room("y", 1)])

    def test_rejects_invalid_input(self):
        rooms = [Room("a", 5)]
        cases = {
            "empty meeting": ([Meeting("m", 10, 10)], rooms, 0),
            "reversed meeting": ([Meeting("m", 10, 5)], rooms, 0),
            "no attendees": ([Meeting("m", 0, 5, 0)], rooms, 0),
            "duplicate meeting id": ([Meeting("m", 0, 5), Meeting("m", 10, 15)], rooms, 0),
            "duplicate room name": ([Meeting("m", 0, 5)], [Room("a", 5), Room("a", 9)], 0),
            "room without capacity": ([Meeting("m", 0, 5)], [Room("a", 0)], 0),
            "negative buffer": ([Meeting("m", 0, 5)], rooms, -1),
        }
        for name, (meetings, rs, buffer) in cases.items():
            with self.subTest(name), self.assertRaises(ValueError):
                allocate_rooms(meetings, rs, buffer)

    def test_follows_the_rules_on_random_days(self):
        rng = random.Random(4)
        for _ in range(200):
            rooms = [Room(f"room-{i:02d}", rng.choice([2, 4, 4, 6, 8, 12, 20])) for i in range(rng.randint(1, 6))]
            meetings = []
            for i in range(rng.randint(1, 40)):
                start = rng.randrange(0, 600, 5)
                meetings.append(Meeting(f"m{i:03d}", start, start + rng.choice([15, 30, 45, 60, 90]), rng.randint(1, 14)))
            rng.shuffle(meetings)
            buffer = rng.choice([0, 0, 5, 10])
            check_allocation(self, meetings, rooms, buffer, allocate_rooms(meetings, rooms, buffer))


class PerformanceTest(unittest.TestCase):
    """Generous time limits; an O(n log n) solution needs a fraction of them."""

    def assertFast(self, seconds, fn, *args):
        started = time.perf_counter()
        result = fn(*args)
        elapsed = time.perf_counter() - started
        self.assertLess(elapsed, seconds, f"{fn.__name__} took {elapsed:.2f}s")
        return result

    def test_interval_functions_scale(self):
        rng = random.Random(5)
        intervals = random_intervals(rng, 200_000, hi=10_000_000, max_len=500)
        merged = self.assertFast(4, merge_intervals, intervals)
        self.assertTrue(all(a[1] < b[0] for a, b in zip(merged, merged[1:])))
        self.assertGreater(self.assertFast(4, min_rooms, intervals), 1)
        calendars = [intervals[i::50] for i in range(50)]
        slots = self.assertFast(4, free_slots, calendars, (0, 10_000_000), 30)
        self.assertTrue(slots)

    def test_allocation_scales(self):
        rng = random.Random(6)
        rooms = [Room(f"room-{i:03d}", rng.choice([4, 6, 8, 12, 20])) for i in range(40)]
        meetings = []
        for i in range(50_000):
            start = rng.randrange(0, 200_000, 5)
            meetings.append(Meeting(f"m{i:05d}", start, start + rng.choice([15, 30, 60, 120]), rng.randint(1, 16)))
        allocation = self.assertFast(5, allocate_rooms, meetings, rooms, 5)
        self.assertEqual(len(allocation.assignments) + len(allocation.unassigned), 50_000)


if __name__ == "__main__":
    unittest.main()
