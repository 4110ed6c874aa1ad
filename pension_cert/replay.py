"""Replays by content: is a submission an earlier recording of this person sent again?

Each frame with a face gets a perceptual hash of the face aligned on its eyes and mouth
(``face.aligned_hash``). Re-encoding, an added comment, a brightness change or a small
crop move a hash by a few bits; another moment of the same face, even in the same room,
moves it by far more. A submission is a replay when a long run of its frames matches an
earlier submission's frames in the same order: dropping, repeating or re-timing frames
keeps that order, while a new recording matches at most a frame here and there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ReplayRule:
    max_bits: int = 6  # hashes this close are the same picture
    min_share: float = 0.5  # this share of the face frames, in order, makes a replay
    min_frames: int = 3


def distance(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def matched_run(new: Sequence[int], old: Sequence[int], rule: ReplayRule) -> int:
    """The longest run of ``new``'s frames matching ``old``'s frames in the same order
    (an old frame may match several new ones: a slowed-down replay repeats frames)."""
    best_ending = [0] * len(old)  # longest run so far ending at each old frame
    for frame in new:
        matches = [j for j, earlier in enumerate(old) if distance(frame, earlier) <= rule.max_bits]
        updated = list(best_ending)
        for j in matches:
            updated[j] = max(updated[j], 1 + max(best_ending[:j + 1], default=0))
        best_ending = updated
    return max(best_ending, default=0)


def is_replay(new: Sequence[int], earlier: Sequence[Sequence[int]], rule: ReplayRule) -> bool:
    """Whether ``new`` (the hashes of one submission's face frames) replays any of the
    person's ``earlier`` submissions."""
    if not new:
        return False
    needed = max(rule.min_frames, rule.min_share * len(new))
    return any(matched_run(new, old, rule) >= needed for old in earlier)
