"""The request log, scripted faults and the rate limit."""

from __future__ import annotations

import time

from prsaga.local.github_fake.records import Fault, RateLimit
from prsaga.local.github_fake.state import StoreState


class Traffic(StoreState):
    """The request log, faults and the rate limit."""

    def record_request(self, method: str, path: str, query: str, status: int) -> None:
        with self._lock:
            self._requests.append(
                {"method": method, "path": path, "query": query, "status": status}
            )

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def take_fault(self, method: str, path: str) -> Fault | None:
        """The first fault matching this request, counted down (and dropped when used up)."""
        with self._lock:
            for fault in self._faults:
                if not fault.matches(method, path):
                    continue
                if fault.skip > 0:
                    fault.skip -= 1
                else:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
            return None

    def consume_rate_limit(self) -> tuple[bool, RateLimit]:
        """Count one authenticated request; ``False`` when the hourly budget is spent."""
        with self._lock:
            now = int(time.time())
            if now >= self._rate_reset:
                self._rate_used, self._rate_reset = 0, now + 3600
            allowed = self._rate_used < self._rate_limit
            if allowed:
                self._rate_used += 1
            return allowed, self.rate_limit()

    def rate_limit(self) -> RateLimit:
        with self._lock:
            remaining = max(0, self._rate_limit - self._rate_used)
            return RateLimit(self._rate_limit, remaining, self._rate_used, self._rate_reset)
