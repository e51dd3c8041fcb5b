"""Meeting scheduling toolkit.

Implement the four functions below (they raise NotImplementedError); see
README.md for the full rules. Times are integers (e.g. minutes since
midnight) and every interval is half-open: (start, end) covers
start <= t < end, so (9, 10) and (10, 11) do not overlap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

Interval = tuple[int, int]


@dataclass(frozen=True)
class Meeting:
    id: str
    start: int
    end: int  # exclusive
    attendees: int = 1


@dataclass(frozen=True)
class Room:
    name: str
    capacity: int


@dataclass
class Allocation:
    assignments: dict[str, str] = field(default_factory=dict)  # meeting id -> room name
    unassigned: list[str] = field(default_factory=list)  # meeting ids, in processing order


def merge_intervals(intervals: Iterable[Interval]) -> list[Interval]:
    """Merges overlapping or touching intervals.

    Returns disjoint, non-touching intervals sorted by start.
    Raises ValueError if an interval has start >= end.
    """
    raise NotImplementedError


def min_rooms(intervals: Iterable[Interval]) -> int:
    """Minimum number of rooms needed to host all the meetings (capacity ignored).

    Raises ValueError if an interval has start >= end.
    """
    raise NotImplementedError


def free_slots(busy: Iterable[Iterable[Interval]], window: Interval, min_duration: int) -> list[Interval]:
    """Times within `window` when nobody is busy, lasting at least `min_duration`.

    `busy` holds one calendar (an unsorted list of busy intervals) per person.
    Returns maximal free intervals, sorted. Raises ValueError for an invalid
    window or interval (start >= end) or a min_duration below 1.
    """
    raise NotImplementedError


def allocate_rooms(meetings: Sequence[Meeting], rooms: Sequence[Room], buffer: int = 0) -> Allocation:
    """Assigns meetings to rooms with the greedy best-fit policy from README.md.

    `buffer` is the time a room needs after each meeting before the next one
    can start in it. Raises ValueError for invalid input (see README.md).
    """
    raise NotImplementedError
