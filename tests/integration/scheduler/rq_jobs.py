"""Job functions run by RQ workers in tests/integration/scheduler/test_rq.py."""

import time


def generate(params, sleep=0.0, fail=False, violations=None):
    """A stand-in for schedule generation: sleeps, then fails or returns the contract's result."""
    time.sleep(sleep)
    if fail:
        raise RuntimeError("no feasible schedule")
    return {"scheduleId": "s-1", "constraintViolations": violations or []}
