"""A node's local clock: an offset and a drift rate over global simulated time.

Local time is piecewise linear in global time; a jump or a drift change re-anchors it, so the
past is never rewritten. All arithmetic is on integers (microseconds, parts per million).
"""

from __future__ import annotations

__all__ = ["LocalClock"]

_PPM = 1_000_000


class LocalClock:
    """local(t) = local_anchor + (t - global_anchor) * (1 + drift_ppm / 1e6), floored."""

    def __init__(self, offset_us: int = 0, drift_ppm: int = 0) -> None:
        if drift_ppm <= -_PPM:
            raise ValueError("drift must be above -1,000,000 ppm")
        self._global_anchor = 0
        self._local_anchor = offset_us
        self.drift_ppm = drift_ppm

    def local(self, t: int) -> int:
        """Local time at global time `t` (t at or after the last re-anchoring)."""
        elapsed = t - self._global_anchor
        return self._local_anchor + elapsed + (elapsed * self.drift_ppm) // _PPM

    def global_at(self, local_deadline: int, now: int) -> int:
        """The earliest global time >= `now` at which local time reaches `local_deadline`."""
        behind = local_deadline - self._local_anchor
        if behind <= 0:
            return now
        if not self.drift_ppm:  # the common case: a steady clock
            return max(self._global_anchor + behind, now)
        # ceil(behind * 1e6 / (1e6 + drift)), then step up until floor rounding agrees.
        rate = _PPM + self.drift_ppm
        t = self._global_anchor + -(-behind * _PPM // rate)
        while self.local(t) < local_deadline:
            t += 1
        return max(t, now)

    def jump(self, now: int, delta_us: int) -> None:
        """Step the clock by `delta_us` (either way) at global time `now`."""
        self._reanchor(now)
        self._local_anchor += delta_us

    def set_drift(self, now: int, drift_ppm: int) -> None:
        """Change the drift rate from global time `now` on."""
        if drift_ppm <= -_PPM:
            raise ValueError("drift must be above -1,000,000 ppm")
        self._reanchor(now)
        self.drift_ppm = drift_ppm

    def _reanchor(self, now: int) -> None:
        self._local_anchor = self.local(now)
        self._global_anchor = now
