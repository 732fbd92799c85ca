"""timex: the kernel clock discipline (NTP/PTP state) from adjtimex(2).

adjtimex is called read-only (``modes = 0``, which needs no privilege) through
ctypes on the C library. Its return value is the clock state (TIME_OK,
TIME_INS, TIME_DEL, TIME_OOP, TIME_WAIT or TIME_ERROR = 5 when the clock is
not synchronised); ``struct timex`` carries the rest.

``struct timex`` as glibc and the kernel (``struct __kernel_timex``) lay it out
on 64-bit Linux (LP64: x86_64, aarch64, ppc64le, s390x, riscv64 all agree)::

    offset  field      C type            meaning (units)
         0  modes      unsigned int      what to set: 0 = read only   (+4 padding)
         8  offset     long              time offset (us, or ns with STA_NANO)
        16  freq       long              frequency offset (ppm << 16)
        24  maxerror   long              maximum error (us)
        32  esterror   long              estimated error (us)
        40  status     int               STA_* bits                   (+4 padding)
        48  constant   long              PLL time constant
        56  precision  long              clock precision (us, read only)
        64  tolerance  long              maximum frequency error (ppm << 16)
        72  time       struct timeval    current time: tv_sec, tv_usec (2 x 8)
        88  tick       long              microseconds between clock ticks
        96  ppsfreq    long              PPS frequency (ppm << 16)
       104  jitter     long              PPS jitter (us, or ns with STA_NANO)
       112  shift      int               PPS interval duration (log2 seconds) (+4 padding)
       120  stabil     long              PPS stability (ppm << 16)
       128  jitcnt     long              PPS jitter limit exceeded events
       136  calcnt     long              PPS calibration intervals
       144  errcnt     long              PPS calibration errors
       152  stbcnt     long              PPS stability limit exceeded events
       160  tai        int               TAI offset (s)
       164  (11 x int padding)           reserved
       208  end (sizeof)

ctypes reproduces this from the field list with native alignment; the size is
checked before the call. The conversions are node_exporter's: the offset and
PPS jitter are in ns when STA_NANO (0x2000) is set in ``status`` and in us
otherwise; errors and the tick are always in us; ``ppm << 16`` values are
divided by 65536 * 10^6 (the frequency adjustment is reported as a ratio,
1 + that); ``shift`` is exported as it is, although its name says seconds.
"""

from __future__ import annotations

import ctypes
import os
from typing import Mapping

from ..core.metrics import counter, gauge
from .registry import HostCollector, node_collectors

TIME_ERROR = 5  # adjtimex's return value when the clock is not synchronised
STA_NANO = 0x2000  # status bit: offset and jitter are in nanoseconds
NANOSECONDS = 1_000_000_000
MICROSECONDS = 1_000_000
PPM16FRAC = 1_000_000.0 * 65536.0  # "ppm << 16" -> ratio; see NOTES in adjtimex(2)

SYNC_STATUS = gauge("node_timex_sync_status", "Is clock synchronized to a reliable server (1 = yes, 0 = no).")
OFFSET = gauge("node_timex_offset_seconds", "Time offset in between local system and reference clock.")
FREQUENCY = gauge("node_timex_frequency_adjustment_ratio", "Local clock frequency adjustment.")
MAXERROR = gauge("node_timex_maxerror_seconds", "Maximum error in seconds.")
ESTERROR = gauge("node_timex_estimated_error_seconds", "Estimated error in seconds.")
STATUS = gauge("node_timex_status", "Value of the status array bits.")
CONSTANT = gauge("node_timex_loop_time_constant", "Phase-locked loop time constant.")
TICK = gauge("node_timex_tick_seconds", "Seconds between clock ticks.")
PPS_FREQUENCY = gauge("node_timex_pps_frequency_hertz", "Pulse per second frequency.")
PPS_JITTER = gauge("node_timex_pps_jitter_seconds", "Pulse per second jitter.")
PPS_SHIFT = gauge("node_timex_pps_shift_seconds", "Pulse per second interval duration.")
PPS_STABILITY = gauge(
    "node_timex_pps_stability_hertz", "Pulse per second stability, average of recent frequency changes."
)
PPS_JITTER_COUNT = counter("node_timex_pps_jitter_total", "Pulse per second count of jitter limit exceeded events.")
PPS_CALIBRATION_COUNT = counter("node_timex_pps_calibration_total", "Pulse per second count of calibration intervals.")
PPS_ERROR_COUNT = counter("node_timex_pps_error_total", "Pulse per second count of calibration errors.")
PPS_STABILITY_EXCEEDED_COUNT = counter(
    "node_timex_pps_stability_exceeded_total", "Pulse per second count of stability limit exceeded events."
)
TAI_OFFSET = gauge("node_timex_tai_offset_seconds", "International Atomic Time (TAI) offset.")

METRICS = (
    SYNC_STATUS,
    OFFSET,
    FREQUENCY,
    MAXERROR,
    ESTERROR,
    STATUS,
    CONSTANT,
    TICK,
    PPS_FREQUENCY,
    PPS_JITTER,
    PPS_SHIFT,
    PPS_STABILITY,
    PPS_JITTER_COUNT,
    PPS_CALIBRATION_COUNT,
    PPS_ERROR_COUNT,
    PPS_STABILITY_EXCEEDED_COUNT,
    TAI_OFFSET,
)


class Timex(ctypes.Structure):
    """``struct timex`` (see the module docstring for the layout)."""

    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time_sec", ctypes.c_long),  # struct timeval time: tv_sec
        ("time_usec", ctypes.c_long),  # tv_usec
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_reserved", ctypes.c_int * 11),
    ]


LP64_TIMEX_SIZE = 208
RAW_FIELDS = (
    "offset",
    "freq",
    "maxerror",
    "esterror",
    "status",
    "constant",
    "tick",
    "ppsfreq",
    "jitter",
    "shift",
    "stabil",
    "jitcnt",
    "calcnt",
    "errcnt",
    "stbcnt",
    "tai",
)

_adjtimex = None


def _libc_adjtimex():
    global _adjtimex
    if _adjtimex is None:
        if ctypes.sizeof(ctypes.c_long) != 8 or ctypes.sizeof(Timex) != LP64_TIMEX_SIZE:
            raise RuntimeError(
                f"struct timex layout is only known for 64-bit Linux (sizeof(long)={ctypes.sizeof(ctypes.c_long)}, "
                f"sizeof(struct timex)={ctypes.sizeof(Timex)})"
            )
        func = ctypes.CDLL(None, use_errno=True).adjtimex
        func.argtypes = [ctypes.POINTER(Timex)]
        func.restype = ctypes.c_int
        _adjtimex = func
    return _adjtimex


def adjtimex_read() -> tuple[int, dict[str, int]]:
    """Call adjtimex(2) with modes = 0: (clock state, {field: raw value})."""
    buf = Timex()  # zeroed: modes = 0 reads without setting anything
    state = _libc_adjtimex()(ctypes.byref(buf))
    if state == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"adjtimex: {os.strerror(err)}")
    return state, {name: getattr(buf, name) for name in RAW_FIELDS}


def timex_values(state: int, raw: Mapping[str, int]) -> list[tuple]:
    """Turn adjtimex's return value and raw ``struct timex`` fields into
    ``[(MetricDef, value), ...]`` in node_exporter's units."""
    divisor = NANOSECONDS if raw["status"] & STA_NANO else MICROSECONDS
    return [
        (SYNC_STATUS, 0 if state == TIME_ERROR else 1),
        (OFFSET, raw["offset"] / divisor),
        (FREQUENCY, 1 + raw["freq"] / PPM16FRAC),
        (MAXERROR, raw["maxerror"] / MICROSECONDS),
        (ESTERROR, raw["esterror"] / MICROSECONDS),
        (STATUS, raw["status"]),
        (CONSTANT, raw["constant"]),
        (TICK, raw["tick"] / MICROSECONDS),
        (PPS_FREQUENCY, raw["ppsfreq"] / PPM16FRAC),
        (PPS_JITTER, raw["jitter"] / divisor),
        (PPS_SHIFT, raw["shift"]),
        (PPS_STABILITY, raw["stabil"] / PPM16FRAC),
        (PPS_JITTER_COUNT, raw["jitcnt"]),
        (PPS_CALIBRATION_COUNT, raw["calcnt"]),
        (PPS_ERROR_COUNT, raw["errcnt"]),
        (PPS_STABILITY_EXCEEDED_COUNT, raw["stbcnt"]),
        (TAI_OFFSET, raw["tai"]),
    ]


@node_collectors.register
class TimexCollector(HostCollector):
    name = "timex"
    description = "Kernel clock synchronisation state (adjtimex(2), read only)."
    metrics = METRICS

    def read(self):
        state, raw = adjtimex_read()
        for d, value in timex_values(state, raw):
            fam = d.family()
            fam.add((), value)
            yield fam
