"""entropy: the kernel's entropy pool from <procfs>/sys/kernel/random.

``entropy_avail`` and ``poolsize`` each hold one number of bits. Since Linux
5.18 (the BLAKE2s pool) both read 256 always; they are still exported as
node_exporter does.
"""

from __future__ import annotations

from ..core.metrics import gauge
from .registry import HostCollector, node_collectors, read_text

AVAILABLE = gauge("node_entropy_available_bits", "Bits of available entropy.")
POOL_SIZE = gauge("node_entropy_pool_size_bits", "Bits of entropy pool.")


def parse_bits(text: str) -> int:
    """The single unsigned number of an entropy file (``"256\\n"`` -> 256)."""
    value = int(text.strip())
    if value < 0:
        raise ValueError(f"negative entropy value {text.strip()!r}")
    return value


@node_collectors.register
class EntropyCollector(HostCollector):
    name = "entropy"
    description = "Available entropy and pool size (/proc/sys/kernel/random)."
    metrics = (AVAILABLE, POOL_SIZE)

    def read(self):
        for d, filename in ((AVAILABLE, "entropy_avail"), (POOL_SIZE, "poolsize")):
            path = self.proc("sys", "kernel", "random", filename)
            try:
                value = parse_bits(read_text(path))
            except ValueError:
                raise ValueError(f"couldn't parse {path}") from None
            fam = d.family()
            fam.add((), value)
            yield fam
