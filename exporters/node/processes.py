"""processes (off by default): processes and threads by state, PIDs in use and the kernel's limits,
from /proc/<pid>/stat, /proc/<pid>/task/<tid>/stat and /proc/sys/kernel/{threads-max,pid_max}.

A process or thread that exits between the directory listing and the read is skipped, as in
node_exporter; any other unreadable stat fails the collector."""

from __future__ import annotations

import os

from ..core.metrics import gauge
from .registry import HostCollector, node_collectors, read_text

THREADS = gauge("node_processes_threads", "Allocated threads in system")
MAX_THREADS = gauge("node_processes_max_threads", "Limit of threads in the system")
STATE = gauge("node_processes_state", "Number of processes in each state.", "state")
THREADS_STATE = gauge("node_processes_threads_state", "Number of threads in each state.", "thread_state")
PIDS = gauge("node_processes_pids", "Number of PIDs")
MAX_PROCESSES = gauge("node_processes_max_processes", "Number of max PIDs limit")


def parse_pid_stat(text: str) -> tuple[str, int]:
    """(state, num_threads) of a /proc/<pid>/stat line; the command name may hold spaces and ')'."""
    rest = text.rpartition(")")[2].split()
    if len(rest) < 18:
        raise ValueError(f"short stat line: {text[:80]!r}")
    return rest[0], int(rest[17])


def _gone(exc: OSError) -> bool:
    """The process or thread exited meanwhile (ENOENT, ESRCH): skip it."""
    return isinstance(exc, FileNotFoundError) or exc.errno == 3


def _numeric_entries(path: str) -> list[str]:
    return [name for name in os.listdir(path) if name.isdigit()]


def read_uint(path: str) -> int:
    text = read_text(path).strip()
    if not text.isdigit():
        raise ValueError(f"{path}: not an unsigned number: {text[:40]!r}")
    return int(text)


@node_collectors.register
class ProcessesCollector(HostCollector):
    name = "processes"
    default_enabled = False
    description = "Processes and threads by state, PIDs in use and their limits (/proc/<pid>/stat)."
    metrics = (THREADS, MAX_THREADS, STATE, THREADS_STATE, PIDS, MAX_PROCESSES)

    def read(self):
        pids = threads = 0
        states: dict[str, int] = {}
        thread_states: dict[str, int] = {}
        for pid in _numeric_entries(self.procfs):
            try:
                state, num_threads = parse_pid_stat(read_text(self.proc(pid, "stat")))
            except OSError as exc:
                if _gone(exc):
                    continue
                raise
            pids += 1
            states[state] = states.get(state, 0) + 1
            threads += num_threads
            self._count_threads(pid, state, thread_states)
        yield self._one(THREADS, threads)
        yield self._one(MAX_THREADS, read_uint(self.proc("sys", "kernel", "threads-max")))
        yield self._labelled(STATE, states)
        yield self._labelled(THREADS_STATE, thread_states)
        pid_max = read_uint(self.proc("sys", "kernel", "pid_max"))
        yield self._one(PIDS, pids)
        yield self._one(MAX_PROCESSES, pid_max)

    def _count_threads(self, pid: str, pid_state: str, thread_states: dict[str, int]) -> None:
        try:
            tids = _numeric_entries(self.proc(pid, "task"))
        except OSError as exc:
            if _gone(exc):
                return
            raise
        for tid in tids:
            if tid == pid:  # the main thread: the process's own state
                state = pid_state
            else:
                try:
                    state = parse_pid_stat(read_text(self.proc(pid, "task", tid, "stat")))[0]
                except OSError as exc:
                    if _gone(exc):
                        continue
                    raise
            thread_states[state] = thread_states.get(state, 0) + 1

    @staticmethod
    def _one(d, value):
        fam = d.family()
        fam.add((), value)
        return fam

    @staticmethod
    def _labelled(d, counts: dict[str, int]):
        fam = d.family()
        for key in sorted(counts):
            fam.add((key,), counts[key])
        return fam
