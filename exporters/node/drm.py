"""drm (off by default): AMD GPUs (the amdgpu driver), from /sys/class/drm/card[0-9]/device/. As node_exporter
reads them, a card of another driver is listed with empty labels and zero values."""

from __future__ import annotations

import glob
import os
import re

from ..core.metrics import gauge
from .registry import HostCollector, node_collectors, read_text

CARD_INFO = gauge(
    "node_drm_card_info", "Card information", "card", "memory_vendor", "power_performance_level", "unique_id", "vendor"
)
# device file -> metric
VALUES = (
    ("gpu_busy_percent", gauge("node_drm_gpu_busy_percent", "How busy the GPU is as a percentage.", "card")),
    (
        "mem_info_gtt_total",
        gauge(
            "node_drm_memory_gtt_size_bytes", "The size of the graphics translation table (GTT) block in bytes.", "card"
        ),
    ),
    (
        "mem_info_gtt_used",
        gauge(
            "node_drm_memory_gtt_used_bytes",
            "The used amount of the graphics translation table (GTT) block in bytes.",
            "card",
        ),
    ),
    ("mem_info_vram_total", gauge("node_drm_memory_vram_size_bytes", "The size of VRAM in bytes.", "card")),
    ("mem_info_vram_used", gauge("node_drm_memory_vram_used_bytes", "The used amount of VRAM in bytes.", "card")),
    (
        "mem_info_vis_vram_total",
        gauge("node_drm_memory_vis_vram_size_bytes", "The size of visible VRAM in bytes.", "card"),
    ),
    (
        "mem_info_vis_vram_used",
        gauge("node_drm_memory_vis_vram_used_bytes", "The used amount of visible VRAM in bytes.", "card"),
    ),
)
_AMDGPU = re.compile(r"DRIVER=amdgpu")


def _field(card: str, name: str) -> str | None:
    try:
        return read_text(os.path.join(card, "device", name)).strip()
    except OSError:
        return None


def _uint(text: str | None) -> int:
    return int(text) if text is not None and text.isdigit() else 0


@node_collectors.register
class DRMCollector(HostCollector):
    name = "drm"
    default_enabled = False
    description = "AMD GPUs (/sys/class/drm/card*/device, amdgpu)."
    metrics = (CARD_INFO, *(d for _, d in VALUES))

    def read(self):
        families = {d.name: d.family() for d in self.metrics}
        for card in sorted(glob.glob(self.sys("class", "drm", "card[0-9]"))):
            name = os.path.basename(card)
            try:
                uevent = read_text(os.path.join(card, "device", "uevent"))
            except OSError as exc:
                if exc.errno == 61:  # ENODATA: skipped, as node_exporter skips it
                    continue
                raise
            amd = bool(_AMDGPU.search(uevent))
            texts = {
                f: (_field(card, f) if amd else None)
                for f in ("mem_info_vram_vendor", "power_dpm_force_performance_level", "unique_id")
            }
            families[CARD_INFO.name].add(
                (
                    name,
                    texts["mem_info_vram_vendor"] or "",
                    texts["power_dpm_force_performance_level"] or "",
                    texts["unique_id"] or "",
                    "amd",
                ),
                1,
            )
            for filename, d in VALUES:
                families[d.name].add((name,), _uint(_field(card, filename)) if amd else 0)
        return list(families.values())
