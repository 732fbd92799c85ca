"""Helpers the host-collector unit tests share: a fake procfs/sysfs/rootfs tree,
Settings pointing at it, and reading a collector once as the scrape runner does."""

from __future__ import annotations

from exporters.core.collector import Settings


def write(path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def tree(tmp_path) -> dict:
    """Empty proc/sys/root directories under tmp_path."""
    roots = {name: tmp_path / name for name in ("proc", "sys", "root")}
    for p in roots.values():
        p.mkdir(exist_ok=True)
    return roots


def settings(roots, **extra) -> Settings:
    return Settings(
        path_procfs=str(roots["proc"]), path_sysfs=str(roots["sys"]), path_rootfs=str(roots["root"]), **extra
    )


def run(collector, declared: bool = False) -> dict:
    """Read once as the scrape runner does; {family name: family}. Names must be unique; with
    ``declared``, every family must match its row in the collector's ``metrics`` (type, labels, help)."""
    fams = collector.read_guarded()
    names = [f.name for f in fams]
    assert len(names) == len(set(names)), names
    if declared:
        defs = {d.name: d for d in type(collector).metrics}
        for fam in fams:
            assert fam.name in defs, f"{fam.name} missing from {type(collector).__name__}.metrics"
            assert (fam.type, fam.labelnames, fam.help) == (
                defs[fam.name].type,
                defs[fam.name].labels,
                defs[fam.name].help,
            )
    return {f.name: f for f in fams}


def samples(fam) -> dict:
    """{label block: value} of one family."""
    return {block: value for _, block, value in fam.samples}
