"""RQ payload decoding (no code runs, plain data loads, the contract's data root) and the
reader's bounded memory of classified registry entries."""

import datetime
import json
import os
import pickle
import zlib

from exporters.scheduler.contract import UNDECODABLE
from exporters.scheduler.rq import _class_of, _Cursor, _known, _remember_classified, job_data, parse_time, safe_loads


class Boom:
    def __reduce__(self):
        return (os.system, ("touch /tmp/flextime-rq-pwned",))


def _call(args, kwargs, dumps=lambda v: pickle.dumps(v, protocol=pickle.HIGHEST_PROTOCOL)):
    return zlib.compress(dumps(("mod.generate", None, args, kwargs)))


def test_data_root_kwargs_over_first_dict_arg():
    assert job_data(_call(({"sport": "football", "teamCount": 12}, 3), {"teamCount": 14})) == {
        "sport": "football",
        "teamCount": 14,
    }
    assert job_data(_call(("x",), {})) == {}
    for proto in range(0, pickle.HIGHEST_PROTOCOL + 1):
        assert job_data(_call(({"sport": "a"},), {}, lambda v: pickle.dumps(v, protocol=proto))) == {"sport": "a"}  # noqa: B023


def test_json_serializer():
    raw = zlib.compress(json.dumps(["mod.generate", None, [{"sport": "rugby"}], {}]).encode())
    assert job_data(raw) == {"sport": "rugby"}


def test_globals_are_refused():
    assert job_data(_call((Boom(),), {})) is UNDECODABLE
    assert not os.path.exists("/tmp/flextime-rq-pwned")
    assert job_data(_call(({"when": datetime.date(2024, 1, 1)},), {})) is UNDECODABLE
    assert safe_loads(pickle.dumps(Boom())) is UNDECODABLE
    assert job_data(b"not zlib") is UNDECODABLE
    assert job_data(zlib.compress(b"\x00" * (8 << 20))) is UNDECODABLE  # over the size bound
    assert job_data(None) is None


def test_times_and_classes():
    assert (
        parse_time(b"2024-01-02T03:04:05.250000Z")
        == datetime.datetime(2024, 1, 2, 3, 4, 5, 250000, tzinfo=datetime.timezone.utc).timestamp()
    )
    assert (
        parse_time(b"2024-01-02T03:04:05Z")
        == datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc).timestamp()
    )
    assert parse_time(b"") is None and parse_time(b"garbage") is None
    # RQ writes UTC with a Z: a date alone, another offset or a broken field is not a time
    for bad in (b"2024-01-02Z", b"2024-01-02T03:04:05+01:00", b"2024-01-02T25:04:05Z", b"2024-01-02T03:04:05\xffZ"):
        assert parse_time(bad) is None, bad
    assert _class_of(1000 + 501, 1000.7) == 501 and _known(501, {500}) and not _known(510, {500})
    assert _class_of(float("inf"), 1.0) is None


def test_classified_entries_stay_within_their_limit():
    cur = _Cursor()
    now = 1_000.0
    _remember_classified(cur, [(b"a", 900.0), (b"b", 1_500.0), (b"inf", float("inf"))], now, limit=3)
    assert set(cur.classified) == {hash(b"a"), hash(b"b")}  # kept-forever entries have their own set
    # full: the expired entry (score 900 < now) makes room first; what still does not fit is left out
    _remember_classified(cur, [(b"c", 1_600.0), (b"d", 1_700.0), (b"e", 1_800.0)], now, limit=3)
    assert set(cur.classified) == {hash(b"b"), hash(b"c"), hash(b"d")}
    _remember_classified(cur, [(b"b", 1_500.0)], now, limit=3)  # known already: nothing changes
    assert len(cur.classified) == 3
