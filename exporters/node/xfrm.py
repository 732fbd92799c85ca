"""xfrm (off by default): IPsec transformation errors, from /proc/net/xfrm_stat (a kernel with CONFIG_XFRM_STATISTICS)."""

from __future__ import annotations

from ..core.metrics import counter
from .registry import HostCollector, node_collectors, read_text

# /proc/net/xfrm_stat field -> (metric suffix, help), as node_exporter names and describes them
FIELDS = (
    ("XfrmInError", "in_error", "All errors not matched by other"),
    ("XfrmInBufferError", "in_buffer_error", "No buffer is left"),
    ("XfrmInHdrError", "in_hdr_error", "Header error"),
    (
        "XfrmInNoStates",
        "in_no_states",
        "No state is found i.e. Either inbound SPI, address, or IPsec protocol at SA is wrong",
    ),
    ("XfrmInStateProtoError", "in_state_proto_error", "Transformation protocol specific error e.g. SA key is wrong"),
    ("XfrmInStateModeError", "in_state_mode_error", "Transformation mode specific error"),
    ("XfrmInStateSeqError", "in_state_seq_error", "Sequence error i.e. Sequence number is out of window"),
    ("XfrmInStateExpired", "in_state_expired", "State is expired"),
    ("XfrmInStateMismatch", "in_state_mismatch", "State has mismatch option e.g. UDP encapsulation type is mismatch"),
    ("XfrmInStateInvalid", "in_state_invalid", "State is invalid"),
    (
        "XfrmInTmplMismatch",
        "in_tmpl_mismatch",
        "No matching template for states e.g. Inbound SAs are correct but SP rule is wrong",
    ),
    ("XfrmInNoPols", "in_no_pols", "No policy is found for states e.g. Inbound SAs are correct but no SP is found"),
    ("XfrmInPolBlock", "in_pol_block", "Policy discards"),
    ("XfrmInPolError", "in_pol_error", "Policy error"),
    ("XfrmOutError", "out_error", "All errors which is not matched others"),
    ("XfrmOutBundleGenError", "out_bundle_gen_error", "Bundle generation error"),
    ("XfrmOutBundleCheckError", "out_bundle_check_error", "Bundle check error"),
    ("XfrmOutNoStates", "out_no_states", "No state is found"),
    ("XfrmOutStateProtoError", "out_state_proto_error", "Transformation protocol specific error"),
    ("XfrmOutStateModeError", "out_state_mode_error", "Transformation mode specific error"),
    ("XfrmOutStateSeqError", "out_state_seq_error", "Sequence error i.e. Sequence number overflow"),
    ("XfrmOutStateExpired", "out_state_expired", "State is expired"),
    ("XfrmOutPolBlock", "out_pol_block", "Policy discards"),
    ("XfrmOutPolDead", "out_pol_dead", "Policy is dead"),
    ("XfrmOutPolError", "out_pol_error", "Policy error"),
    ("XfrmFwdHdrError", "fwd_hdr_error", "Forward routing of a packet is not allowed"),
    ("XfrmOutStateInvalid", "out_state_invalid", "State is invalid, perhaps expired"),
    ("XfrmAcquireError", "acquire_error", "State hasn\u2019t been fully acquired before use"),
)
DEFS = tuple((field, counter(f"node_xfrm_{suffix}_packets_total", help_)) for field, suffix, help_ in FIELDS)


def parse_xfrm_stat(text: str) -> dict[str, int]:
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or not parts[1].isdigit():
            raise ValueError(f"/proc/net/xfrm_stat: couldn't parse {line[:80]!r}")
        out[parts[0]] = int(parts[1])
    return out


@node_collectors.register
class XfrmCollector(HostCollector):
    name = "xfrm"
    default_enabled = False
    description = "IPsec transformation statistics (/proc/net/xfrm_stat)."
    metrics = tuple(d for _, d in DEFS)

    def read(self):
        values = parse_xfrm_stat(read_text(self.proc("net", "xfrm_stat")))
        for field, d in DEFS:  # a field this kernel does not print reads 0, as in node_exporter
            fam = d.family()
            fam.add((), values.get(field, 0))
            yield fam
