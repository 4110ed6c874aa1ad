"""Liveness from per-frame measurements: the challenged actions in order, a head turn
that is a head turning (3-D parallax), a face that moves like one face, and no still
photo. Pure functions on ``FrameMeasure`` lists; the pool runs them.

Positions below are positions in the list of frames that show a face (not frame
numbers): a frame without a face is simply not there.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

import numpy as np

from pension_cert.face import Action, FaceCheckConfig, FrameMeasure

# Half a second either side at 15 frames a second: the neighbourhood a blink is measured
# against. A blink lasts 100-400 ms, so most of the neighbourhood has the eyes open.
NEIGHBOURHOOD = 7
TURNS = {Action.TURN_LEFT: 1.0, Action.TURN_RIGHT: -1.0}  # the yaw's direction


@dataclass(frozen=True)
class Event:
    """Where an action was seen: its first frame, the end of that run, and (for a turn)
    the frames the head turned from."""

    first: int
    last: int
    start: tuple[int, ...] = ()


def check_actions(measures: Sequence[FrameMeasure], actions: Sequence[str],
                  config: FaceCheckConfig) -> str | None:
    """None when every action happened, in order, and every turn turned in depth."""
    after = -1
    for action in actions:
        event = find_event(measures, action, after + 1, config)
        if event is None:
            anywhere = find_event(measures, action, 0, config)
            return "WRONG_ORDER" if anywhere is not None else f"{action.upper()}_NOT_DETECTED"
        if action in TURNS:
            if not parallax_holds(measures, event, TURNS[action], config):
                return "TURN_NOT_NATURAL"
            after = event.first  # a person may blink while still turned
        else:
            after = event.last  # one expression never counts for two actions
    return None


def action_events(measures: Sequence[FrameMeasure], actions: Sequence[str],
                  config: FaceCheckConfig) -> list[Event]:
    """The events that satisfied the challenge, in order (after ``check_actions`` passed)."""
    events, after = [], -1
    for action in actions:
        event = find_event(measures, action, after + 1, config)
        if event is None:
            break
        events.append(event)
        after = event.first if action in TURNS else event.last
    return events


def find_event(measures: Sequence[FrameMeasure], action: str, begin: int,
               config: FaceCheckConfig) -> Event | None:
    hits = action_hits(measures, action, begin, config)
    if not hits:
        return None
    last = hits[0]
    while last + 1 in hits:
        last += 1
    if action not in TURNS:
        return Event(hits[0], last)
    direction = TURNS[action]
    before = range(begin, hits[0])
    # The frames the head turned from: the farthest the other way before the turn.
    yaws = smoothed([m.yaw for m in measures])
    start = sorted(before, key=lambda i: direction * yaws[i])[:3]
    return Event(hits[0], last, tuple(start))


def action_hits(measures: Sequence[FrameMeasure], action: str, begin: int,
                config: FaceCheckConfig) -> list[int]:
    """Positions from ``begin`` on that show ``action``."""
    if action == Action.BLINK:
        ears = [m.ear for m in measures]
        return [i for i in range(begin, len(measures))
                if ears[i] < config.blink_ratio * _neighbourhood(ears, i)]
    if action == Action.OPEN_MOUTH:
        return [i for i in range(begin, len(measures)) if measures[i].mar > config.mouth_open_mar]
    direction = TURNS[action]
    yaws = smoothed([m.yaw for m in measures])
    hits, lowest = [], float("inf")
    for i in range(begin, len(measures)):
        turned = direction * yaws[i]
        lowest = min(lowest, turned)
        if turned - lowest >= config.turn_yaw:
            hits.append(i)
    return hits


def smoothed(values: Sequence[float]) -> list[float]:
    """A running median of three: one frame's landmark jitter is no head turn."""
    return [median(values[max(0, i - 1):i + 2]) for i in range(len(values))]


def _neighbourhood(values: Sequence[float], i: int) -> float:
    around = [v for j, v in enumerate(values[max(0, i - NEIGHBOURHOOD):i + NEIGHBOURHOOD + 1],
                                      start=max(0, i - NEIGHBOURHOOD)) if abs(j - i) > 1]
    return median(around) if around else values[i]


def parallax_holds(measures: Sequence[FrameMeasure], event: Event, direction: float,
                   config: FaceCheckConfig) -> bool:
    """A head turns about its neck: the nose tip, far in front of the axis, moves across
    the jaw outline more than the eyes do, and the eyes move the same way. A flat picture
    (printed, on a screen, or warped in 2-D) keeps them where they were against its jaw
    line, or moves the whole inner face alike."""
    if not event.start:
        return False
    turned = range(event.first, event.last + 1)
    nose = direction * (median(measures[i].nose_offset for i in turned)
                        - median(measures[i].nose_offset for i in event.start))
    eyes = direction * (median(measures[i].eye_offset for i in turned)
                        - median(measures[i].eye_offset for i in event.start))
    return nose > 0 and eyes >= config.eyes_share * nose and nose >= config.nose_over_eyes * eyes


def jumps(a: FrameMeasure, b: FrameMeasure, config: FaceCheckConfig) -> bool:
    """Whether the face jumps from ``a`` to ``b``: its middle moves more than
    ``track_max_shift`` of its width, or its size changes by more than ``track_max_scale``."""
    size = max(min(a.width, b.width), 1.0)
    shift = float(np.hypot(a.centre[0] - b.centre[0], a.centre[1] - b.centre[1]))
    return shift > config.track_max_shift * size or max(a.width, b.width) > (
        config.track_max_scale * size)


def without_glitches(measures: Sequence[FrameMeasure], config: FaceCheckConfig
                     ) -> list[FrameMeasure]:
    """The frames minus single-frame glitches: a frame whose landmarks went astray jumps
    away from both neighbours while they agree with each other. Dropping it keeps a
    misplaced eye from reading as a blink; a cut to other footage is no single frame."""
    kept = list(measures[:1])
    for i in range(1, len(measures) - 1):
        before, this, after = kept[-1], measures[i], measures[i + 1]
        if jumps(before, this, config) and jumps(this, after, config) and not jumps(
                before, after, config):
            continue
        kept.append(this)
    kept.extend(measures[len(measures) - 1:] if len(measures) > 1 else [])
    return kept


def track_is_continuous(measures: Sequence[FrameMeasure], config: FaceCheckConfig) -> bool:
    """One face moving as a face moves, from frame to frame: a cut to another recording
    or photo jumps."""
    return not any(jumps(a, b, config) for a, b in itertools.pairwise(measures))


def looks_still(measures: Sequence[FrameMeasure], config: FaceCheckConfig) -> bool:
    """A photo held up (or the same frame sent again and again) barely changes."""
    thumbs = [np.frombuffer(m.thumb, dtype=np.uint8).astype(float) for m in measures]
    if len(thumbs) < 2:
        return True
    changes = [float(np.abs(a - b).mean()) for a, b in itertools.pairwise(thumbs)]
    ears = [m.ear for m in measures]
    # The eyes barely change either (a blink alone moves the ratio by a quarter or more;
    # landmarks on one photo re-encoded jitter by about 0.06).
    return median(changes) < config.still_threshold and (max(ears) - min(ears)) < 0.1
