"""Job functions run by RQ workers in tests/integration/scheduler/test_rq_cursor.py."""

import time


def quick(params, sleep=0.0, fail=False, violations=None):
    """Schedule generation in miniature: sleeps, then fails or returns the contract's result."""
    if sleep:
        time.sleep(sleep)
    if fail:
        raise RuntimeError("no feasible schedule")
    return {"scheduleId": "s-1", "constraintViolations": violations or []}
