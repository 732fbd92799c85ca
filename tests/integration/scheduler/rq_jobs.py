"""Job functions run by RQ workers in tests/integration/scheduler/test_rq.py."""

import time


def generate(params, sleep=0.0, fail=False, violations=None):
    """A stand-in for schedule generation: sleeps, then fails or returns the contract's result."""
    time.sleep(sleep)
    if fail:
        raise RuntimeError("no feasible schedule")
    return {"scheduleId": "s-1", "constraintViolations": violations or []}


def flaky(key, failures, sleep=0.0):
    """Fails its first ``failures`` runs (counted in Redis key ``key``), then succeeds; returns a Retry
    object instead of raising, so RQ records the attempt (number_of_retries)."""
    import redis
    from rq import Retry, get_current_job

    job = get_current_job()
    runs = redis.Redis(connection_pool=job.connection.connection_pool).incr(key)
    time.sleep(sleep)
    if runs <= failures:
        return Retry(max=failures)
    return {"constraintViolations": []}
