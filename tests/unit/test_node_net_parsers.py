"""Unit tests of the network and vmstat host collectors (vmstat, netstat, sockstat,
softnet, udp_queues, arp): the pure parsers, and each collector run against a
fake procfs. Fixture texts are copied from a Debian 12 VM (kernel 6.18, 2 CPUs)
unless a test says otherwise; expected names, types and HELP strings are those
of node_exporter 1.5.0."""

from __future__ import annotations

import pytest

from node_tree import run, samples, write

from exporters.core.collector import Settings
from exporters.core.errors import ConfigError
from exporters.core.metrics import COUNTER, GAUGE, UNTYPED, render_text
from exporters.node.arp import ARPCollector, parse_arp
from exporters.node.netstat import DEFAULT_FIELDS as NETSTAT_DEFAULT_FIELDS
from exporters.node.netstat import NetstatCollector, parse_netstat, parse_snmp6
from exporters.node.sockstat import SockstatCollector, parse_sockstat, sockstat_values
from exporters.node.softnet import SoftnetCollector, parse_softnet_stat
from exporters.node.udp_queues import UDPQueuesCollector, parse_udp_queues
from exporters.node.vmstat import VmstatCollector, parse_vmstat

# --------------------------------------------------------------------------- fixtures

# A real subset of /proc/vmstat (the file has ~190 lines), in file order.
VMSTAT = """\
nr_free_pages 1059654
workingset_refault_anon 0
nr_dirty 32
pgpgin 2814573
pgpgout 760136
pswpin 0
pswpout 0
pgalloc_normal 20408285
pgfault 21766419
pgmajfault 3466
pgsteal_kswapd 0
oom_kill 0
thp_fault_alloc 0
"""

NETSTAT = (
    "TcpExt: SyncookiesSent SyncookiesRecv SyncookiesFailed EmbryonicRsts PruneCalled RcvPruned OfoPruned OutOfWindowIcmps LockDroppedIcmps ArpFilter TW TWRecycled TWKilled PAWSActive PAWSEstab BeyondWindow TSEcrRejected PAWSOldAck PAWSTimewait DelayedACKs DelayedACKLocked DelayedACKLost ListenOverflows ListenDrops TCPHPHits TCPPureAcks TCPHPAcks TCPRenoRecovery TCPSackRecovery TCPSACKReneging TCPSACKReorder TCPRenoReorder TCPTSReorder TCPFullUndo TCPPartialUndo TCPDSACKUndo TCPLossUndo TCPLostRetransmit TCPRenoFailures TCPSackFailures TCPLossFailures TCPFastRetrans TCPSlowStartRetrans TCPTimeouts TCPLossProbes TCPLossProbeRecovery TCPRenoRecoveryFail TCPSackRecoveryFail TCPRcvCollapsed TCPBacklogCoalesce TCPDSACKOldSent TCPDSACKOfoSent TCPDSACKRecv TCPDSACKOfoRecv TCPAbortOnData TCPAbortOnClose TCPAbortOnMemory TCPAbortOnTimeout TCPAbortOnLinger TCPAbortFailed TCPMemoryPressures TCPMemoryPressuresChrono TCPSACKDiscard TCPDSACKIgnoredOld TCPDSACKIgnoredNoUndo TCPSpuriousRTOs TCPMD5NotFound TCPMD5Unexpected TCPMD5Failure TCPSackShifted TCPSackMerged TCPSackShiftFallback TCPBacklogDrop PFMemallocDrop TCPMinTTLDrop TCPDeferAcceptDrop IPReversePathFilter TCPTimeWaitOverflow TCPReqQFullDoCookies TCPReqQFullDrop TCPRetransFail TCPRcvCoalesce TCPOFOQueue TCPOFODrop TCPOFOMerge TCPChallengeACK TCPSYNChallenge TCPFastOpenActive TCPFastOpenActiveFail TCPFastOpenPassive TCPFastOpenPassiveFail TCPFastOpenListenOverflow TCPFastOpenCookieReqd TCPFastOpenBlackhole TCPSpuriousRtxHostQueues BusyPollRxPackets TCPAutoCorking TCPFromZeroWindowAdv TCPToZeroWindowAdv TCPWantZeroWindowAdv TCPSynRetrans TCPOrigDataSent TCPHystartTrainDetect TCPHystartTrainCwnd TCPHystartDelayDetect TCPHystartDelayCwnd TCPACKSkippedSynRecv TCPACKSkippedPAWS TCPACKSkippedSeq TCPACKSkippedFinWait2 TCPACKSkippedTimeWait TCPACKSkippedChallenge TCPWinProbe TCPKeepAlive TCPMTUPFail TCPMTUPSuccess TCPDelivered TCPDeliveredCE TCPAckCompressed TCPZeroWindowDrop TCPRcvQDrop TCPWqueueTooBig TCPFastOpenPassiveAltKey TcpTimeoutRehash TcpDuplicateDataRehash TCPDSACKRecvSegs TCPDSACKIgnoredDubious TCPMigrateReqSuccess TCPMigrateReqFailure TCPPLBRehash TCPAORequired TCPAOBad TCPAOKeyNotFound TCPAOGood TCPAODroppedIcmps\n"
    "TcpExt: 0 0 0 0 0 0 0 0 0 0 17580 581 0 0 0 0 0 0 0 5 0 7 0 0 4146 78393 5417 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 2 1 0 0 0 0 23 7 0 0 0 393 675 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 12098 0 0 0 1 0 0 0 0 0 0 0 0 2 0 2 43 43 4 0 85136 0 0 0 0 0 0 0 0 0 0 0 0 0 0 102911 0 0 0 0 0 0 2 0 0 0 0 0 0 0 0 0 0 0\n"
    "IpExt: InNoRoutes InTruncatedPkts InMcastPkts OutMcastPkts InBcastPkts OutBcastPkts InOctets OutOctets InMcastOctets OutMcastOctets InBcastOctets OutBcastOctets InCsumErrors InNoECTPkts InECT1Pkts InECT0Pkts InCEPkts ReasmOverlaps\n"
    "IpExt: 0 0 0 0 0 0 222293670 145232459 0 0 0 0 0 220421 0 0 0 0\n"
    "MPTcpExt: MPCapableSYNRX MPCapableSYNTX MPCapableSYNACKRX MPCapableACKRX MPCapableFallbackACK MPCapableFallbackSYNACK MPCapableSYNTXDrop MPCapableSYNTXDisabled MPCapableEndpAttempt MPFallbackTokenInit MPTCPRetrans MPJoinNoTokenFound MPJoinSynRx MPJoinSynBackupRx MPJoinSynAckRx MPJoinSynAckBackupRx MPJoinSynAckHMacFailure MPJoinAckRx MPJoinAckHMacFailure MPJoinRejected MPJoinSynTx MPJoinSynTxCreatSkErr MPJoinSynTxBindErr MPJoinSynTxConnectErr DSSNotMatching DSSCorruptionFallback DSSCorruptionReset InfiniteMapTx InfiniteMapRx DSSNoMatchTCP DataCsumErr OFOQueueTail OFOQueue OFOMerge NoDSSInWindow DuplicateData AddAddr AddAddrTx AddAddrTxDrop EchoAdd EchoAddTx EchoAddTxDrop PortAdd AddAddrDrop MPJoinPortSynRx MPJoinPortSynAckRx MPJoinPortAckRx MismatchPortSynRx MismatchPortAckRx RmAddr RmAddrDrop RmAddrTx RmAddrTxDrop RmSubflow MPPrioTx MPPrioRx MPFailTx MPFailRx MPFastcloseTx MPFastcloseRx MPRstTx MPRstRx SubflowStale SubflowRecover SndWndShared RcvWndShared RcvWndConflictUpdate RcvWndConflict MPCurrEstab Blackhole MPCapableDataFallback MD5SigFallback DssFallback SimultConnectFallback FallbackFailed WinProbe\n"
    "MPTcpExt: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
)

SNMP = """\
Ip: Forwarding DefaultTTL InReceives InHdrErrors InAddrErrors ForwDatagrams InUnknownProtos InDiscards InDelivers OutRequests OutDiscards OutNoRoutes ReasmTimeout ReasmReqds ReasmOKs ReasmFails FragOKs FragFails FragCreates OutTransmits
Ip: 2 64 220421 0 0 0 0 0 220421 219716 0 0 0 0 0 0 0 0 0 219716
Icmp: InMsgs InErrors InCsumErrors InDestUnreachs InTimeExcds InParmProbs InSrcQuenchs InRedirects InEchos InEchoReps InTimestamps InTimestampReps InAddrMasks InAddrMaskReps OutMsgs OutErrors OutRateLimitGlobal OutRateLimitHost OutDestUnreachs OutTimeExcds OutParmProbs OutSrcQuenchs OutRedirects OutEchos OutEchoReps OutTimestamps OutTimestampReps OutAddrMasks OutAddrMaskReps
Icmp: 1 0 0 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
IcmpMsg: InType3
IcmpMsg: 1
Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors
Tcp: 1 200 120000 -1 23982 18542 5405 1658 0 220452 219748 1 0 6502 0
Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
Udp: 76 0 0 79 0 0 0 0 0
UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
UdpLite: 0 0 0 0 0 0 0 0 0
"""

# A real subset of /proc/net/snmp6 (the file has ~90 lines); the separator is a tab.
SNMP6 = """\
Ip6InReceives                   \t111
Ip6InDelivers                   \t111
Ip6OutRequests                  \t120
Ip6InOctets                     \t12151
Ip6OutOctets                    \t12903
Icmp6InMsgs                     \t1
Icmp6InErrors                   \t1
Icmp6OutMsgs                    \t9
Icmp6OutType135                 \t4
Udp6InDatagrams                 \t0
Udp6NoPorts                     \t0
Udp6InErrors                    \t0
Udp6OutDatagrams                \t0
Udp6RcvbufErrors                \t0
Udp6SndbufErrors                \t0
Udp6InCsumErrors                \t0
UdpLite6InDatagrams             \t0
UdpLite6InErrors                \t0
"""

SOCKSTAT = """\
sockets: used 11
TCP: inuse 2 orphan 0 tw 4 alloc 2 mem 285
UDP: inuse 0 mem 0
UDPLITE: inuse 0
RAW: inuse 0
FRAG: inuse 0 memory 0
"""

SOCKSTAT6 = """\
TCP6: inuse 1
UDP6: inuse 0
UDPLITE6: inuse 0
RAW6: inuse 0
FRAG6: inuse 0 memory 0
"""

# 15 columns (kernel 6.x); the 13th is the CPU id.
SOFTNET_STAT = """\
0001cf89 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
00018df6 00000003 0000001a 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000001 00000000 00000000
"""

# Real lines: a socket on 127.0.0.1 with two unread datagrams (rx_queue 0x680).
UDP = """\
   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops            
11647: 00000000:96FE 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 106470 2 0000000048811da5 0        
12508: 0100007F:9A5B 00000000:0000 07 00000010:00000680 00:00000000 00000000     0        0 106469 2 00000000367b82fa 0        
"""

UDP6 = """\
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
12726: 00000000000000000000000001000000:9B35 00000000000000000000000000000000:0000 07 00000000:00000340 00:00000000 00000000     0        0 106471 2 00000000aa062ae9 0
12990: 00000000000000000000000000000000:9C3D 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 106472 2 00000000695e98f8 0
"""

UDP_EMPTY = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops            \n"

ARP = """\
IP address       HW type     Flags       HW address            Mask     Device
192.0.2.1        0x1         0x2         02:fc:00:00:00:05     *        eth0
192.0.2.7        0x1         0x0         00:00:00:00:00:00     *        eth0
10.10.0.1        0x1         0x2         52:54:00:12:34:56     *        br0
"""

ARP_EMPTY = "IP address       HW type     Flags       HW address            Mask     Device\n"


@pytest.fixture
def proc(tmp_path):
    p = tmp_path / "proc"
    p.mkdir()
    return p


def settings(proc, **extra) -> Settings:
    return Settings(path_procfs=str(proc), path_sysfs=str(proc.parent / "sys"), path_rootfs="/", **extra)


def scalars(fams: dict) -> dict:
    """{family name: value} of families holding one unlabelled sample."""
    out = {}
    for name, fam in fams.items():
        assert fam.labelnames == () and len(fam.samples) == 1, name
        out[name] = fam.samples[0][2]
    return out


# --------------------------------------------------------------------------- vmstat


def test_parse_vmstat():
    v = parse_vmstat(VMSTAT)
    assert v["pgfault"] == 21766419 and v["nr_free_pages"] == 1059654
    assert len(v) == 13
    assert parse_vmstat("pgfault 1\nbroken\npgfault2 x\nspace d 3\n\n") == {"pgfault": 1}


def test_vmstat_collector_default_fields(proc):
    write(proc / "vmstat", VMSTAT)
    fams = run(VmstatCollector(settings(proc)))
    # the seven families node_exporter 1.5.0 serves; the regex is anchored at the start only
    assert scalars(fams) == {
        "node_vmstat_oom_kill": 0,
        "node_vmstat_pgfault": 21766419,
        "node_vmstat_pgmajfault": 3466,
        "node_vmstat_pgpgin": 2814573,
        "node_vmstat_pgpgout": 760136,
        "node_vmstat_pswpin": 0,
        "node_vmstat_pswpout": 0,
    }
    fault = fams["node_vmstat_pgfault"]
    assert fault.type == UNTYPED
    assert fault.help == "/proc/vmstat information field pgfault."
    text = render_text(fams.values())
    assert (
        "# HELP node_vmstat_pgmajfault /proc/vmstat information field pgmajfault.\n"
        "# TYPE node_vmstat_pgmajfault untyped\nnode_vmstat_pgmajfault 3466\n"
    ) in text


def test_vmstat_collector_fields_flag(proc):
    write(proc / "vmstat", VMSTAT)
    fams = run(VmstatCollector(settings(proc, collector_vmstat_fields="^nr_")))
    assert scalars(fams) == {"node_vmstat_nr_free_pages": 1059654, "node_vmstat_nr_dirty": 32}
    # unanchored, as Go's MatchString: "fault" is found inside three names
    fams = run(VmstatCollector(settings(proc, collector_vmstat_fields="fault")))
    assert set(fams) == {
        "node_vmstat_pgfault",
        "node_vmstat_pgmajfault",
        "node_vmstat_thp_fault_alloc",
        "node_vmstat_workingset_refault_anon",
    }
    # an empty regexp matches everything
    assert len(run(VmstatCollector(settings(proc, collector_vmstat_fields="")))) == 13
    with pytest.raises(ConfigError, match="collector.vmstat.fields"):
        VmstatCollector(settings(proc, collector_vmstat_fields="(pg"))


def test_vmstat_collector_without_file_fails(proc):
    with pytest.raises(FileNotFoundError):
        run(VmstatCollector(settings(proc)))


# --------------------------------------------------------------------------- netstat


def test_parse_netstat_real_files():
    net = parse_netstat(NETSTAT)
    assert set(net) == {"TcpExt", "IpExt", "MPTcpExt"}
    assert len(net["TcpExt"]) == 135
    assert net["TcpExt"]["TCPTimeouts"] == 2
    assert net["TcpExt"]["TW"] == 17580
    assert net["IpExt"]["InOctets"] == 222293670
    snmp = parse_netstat(SNMP)
    assert set(snmp) == {"Ip", "Icmp", "IcmpMsg", "Tcp", "Udp", "UdpLite"}
    assert snmp["Ip"]["Forwarding"] == 2
    assert snmp["Tcp"]["MaxConn"] == -1
    assert snmp["Tcp"]["ActiveOpens"] == 23982 and snmp["Tcp"]["InCsumErrors"] == 0
    assert snmp["IcmpMsg"] == {"InType3": 1}


def test_parse_netstat_header_and_values_of_different_length_raise():
    # a value missing in the middle would shift every later value to the wrong name
    text = "Udp: InDatagrams NoPorts InErrors OutDatagrams\nUdp: 76 0 79\n"
    with pytest.raises(ValueError, match=r"/proc/net/snmp: Udp has 4 field names but 3 values"):
        parse_netstat(text, "/proc/net/snmp")
    with pytest.raises(ValueError, match="followed by values for 'Tcp:'"):
        parse_netstat("Udp: InDatagrams\nTcp: 1\n")
    with pytest.raises(ValueError, match="odd number of lines"):
        parse_netstat("Udp: InDatagrams\nUdp: 1\nTcp: InSegs\n")


def test_parse_snmp6():
    s = parse_snmp6(SNMP6)
    assert set(s) == {"Ip6", "Icmp6", "Udp6", "UdpLite6"}
    assert s["Ip6"]["InOctets"] == 12151
    assert s["Icmp6"]["OutType135"] == 4
    assert s["UdpLite6"] == {"InDatagrams": 0, "InErrors": 0}
    assert parse_snmp6("") == {}
    assert parse_snmp6("NoSixHere 3\nlonely\nIp6InOctets x\n") == {}


# What node_exporter serves from these fixtures (1.5.0's families and 1.9's two TcpExt additions).
NETSTAT_EXPECTED = {
    "node_netstat_Icmp6_InErrors": 1,
    "node_netstat_Icmp6_InMsgs": 1,
    "node_netstat_Icmp6_OutMsgs": 9,
    "node_netstat_Icmp_InErrors": 0,
    "node_netstat_Icmp_InMsgs": 1,
    "node_netstat_Icmp_OutMsgs": 0,
    "node_netstat_Ip6_InOctets": 12151,
    "node_netstat_Ip6_OutOctets": 12903,
    "node_netstat_IpExt_InOctets": 222293670,
    "node_netstat_IpExt_OutOctets": 145232459,
    "node_netstat_Ip_Forwarding": 2,
    "node_netstat_TcpExt_ListenDrops": 0,
    "node_netstat_TcpExt_ListenOverflows": 0,
    "node_netstat_TcpExt_SyncookiesFailed": 0,
    "node_netstat_TcpExt_SyncookiesRecv": 0,
    "node_netstat_TcpExt_SyncookiesSent": 0,
    "node_netstat_TcpExt_TCPSynRetrans": 0,
    "node_netstat_TcpExt_TCPTimeouts": 2,
    "node_netstat_TcpExt_TCPOFOQueue": 0,
    "node_netstat_TcpExt_TCPRcvQDrop": 0,
    "node_netstat_Tcp_ActiveOpens": 23982,
    "node_netstat_Tcp_CurrEstab": 0,
    "node_netstat_Tcp_InErrs": 0,
    "node_netstat_Tcp_InSegs": 220452,
    "node_netstat_Tcp_OutRsts": 6502,
    "node_netstat_Tcp_OutSegs": 219748,
    "node_netstat_Tcp_PassiveOpens": 18542,
    "node_netstat_Tcp_RetransSegs": 1,
    "node_netstat_Udp6_InDatagrams": 0,
    "node_netstat_Udp6_InErrors": 0,
    "node_netstat_Udp6_NoPorts": 0,
    "node_netstat_Udp6_OutDatagrams": 0,
    "node_netstat_Udp6_RcvbufErrors": 0,
    "node_netstat_Udp6_SndbufErrors": 0,
    "node_netstat_UdpLite6_InErrors": 0,
    "node_netstat_UdpLite_InErrors": 0,
    "node_netstat_Udp_InDatagrams": 76,
    "node_netstat_Udp_InErrors": 0,
    "node_netstat_Udp_NoPorts": 0,
    "node_netstat_Udp_OutDatagrams": 79,
    "node_netstat_Udp_RcvbufErrors": 0,
    "node_netstat_Udp_SndbufErrors": 0,
}


def test_netstat_collector(proc):
    write(proc / "net" / "netstat", NETSTAT)
    write(proc / "net" / "snmp", SNMP)
    write(proc / "net" / "snmp6", SNMP6)
    fams = run(NetstatCollector(settings(proc)))
    assert scalars(fams) == NETSTAT_EXPECTED
    assert "node_netstat_TcpExt_TCPOFOQueue" in fams  # 1.9's default; 1.5 had nones' default, not 1.5.0's
    assert all(f.type == UNTYPED for f in fams.values())
    assert fams["node_netstat_Ip6_InOctets"].help == "Statistic Ip6InOctets."
    assert fams["node_netstat_TcpExt_ListenDrops"].help == "Statistic TcpExtListenDrops."
    assert list(fams) == sorted(fams)
    text = render_text(fams.values())
    assert (
        "# HELP node_netstat_Tcp_OutRsts Statistic TcpOutRsts.\n"
        "# TYPE node_netstat_Tcp_OutRsts untyped\nnode_netstat_Tcp_OutRsts 6502\n"
    ) in text


def test_netstat_collector_without_snmp6(proc):
    """IPv6 disabled: no snmp6 file, the IPv4 counters are still served."""
    write(proc / "net" / "netstat", NETSTAT)
    write(proc / "net" / "snmp", SNMP)
    fams = run(NetstatCollector(settings(proc)))
    assert scalars(fams) == {
        k: v
        for k, v in NETSTAT_EXPECTED.items()
        if not k.startswith(("node_netstat_Ip6", "node_netstat_Icmp6", "node_netstat_Udp6", "node_netstat_UdpLite6"))
    }


def test_netstat_collector_fields_flag_and_failures(proc):
    write(proc / "net" / "netstat", NETSTAT)
    write(proc / "net" / "snmp", SNMP)
    fams = run(NetstatCollector(settings(proc, collector_netstat_fields="^Tcp_(MaxConn|RtoMin)$")))
    assert scalars(fams) == {"node_netstat_Tcp_MaxConn": -1, "node_netstat_Tcp_RtoMin": 200}
    everything = run(NetstatCollector(settings(proc, collector_netstat_fields="")))
    assert len(everything) == 135 + 18 + 76 + 20 + 29 + 1 + 15 + 9 + 9
    assert scalars(everything)["node_netstat_MPTcpExt_MPCurrEstab"] == 0
    with pytest.raises(ConfigError, match="collector.netstat.fields"):
        NetstatCollector(settings(proc, collector_netstat_fields="Tcp_(("))
    # a malformed main file fails the collector instead of mislabelling values
    write(proc / "net" / "snmp", "Udp: InDatagrams NoPorts\nUdp: 76\n")
    with pytest.raises(ValueError, match="Udp has 2 field names but 1 values"):
        run(NetstatCollector(settings(proc)))
    (proc / "net" / "snmp").unlink()
    with pytest.raises(FileNotFoundError):
        run(NetstatCollector(settings(proc)))


# --------------------------------------------------------------------------- sockstat


def test_parse_sockstat():
    used, protos = parse_sockstat(SOCKSTAT)
    assert used == 11
    assert protos == {
        "TCP": {"inuse": 2, "orphan": 0, "tw": 4, "alloc": 2, "mem": 285},
        "UDP": {"inuse": 0, "mem": 0},
        "UDPLITE": {"inuse": 0},
        "RAW": {"inuse": 0},
        "FRAG": {"inuse": 0, "memory": 0},
    }
    assert parse_sockstat(SOCKSTAT6)[0] is None
    for bad in ("TCP: inuse\n", "TCP: inuse 2 orphan\n", "TCP: inuse two\n", "TCP inuse 2\n"):
        with pytest.raises(ValueError):
            parse_sockstat(bad)


def test_sockstat_values_only_known_states():
    values = sockstat_values(None, {"TCP": {"tw": 1, "weird": 5}}, 4096)
    # inuse defaults to 0; unknown states are left out; no sockets_used without the "sockets:" line
    assert values == {
        "node_sockstat_TCP_inuse": ("Number of TCP sockets in state inuse.", 0),
        "node_sockstat_TCP_tw": ("Number of TCP sockets in state tw.", 1),
    }


def test_sockstat_collector(proc):
    write(proc / "net" / "sockstat", SOCKSTAT)
    write(proc / "net" / "sockstat6", SOCKSTAT6)
    collector = SockstatCollector(settings(proc))
    collector.page_size = 4096
    fams = run(collector)
    assert scalars(fams) == {
        "node_sockstat_FRAG6_inuse": 0,
        "node_sockstat_FRAG6_memory": 0,
        "node_sockstat_FRAG_inuse": 0,
        "node_sockstat_FRAG_memory": 0,
        "node_sockstat_RAW6_inuse": 0,
        "node_sockstat_RAW_inuse": 0,
        "node_sockstat_TCP6_inuse": 1,
        "node_sockstat_TCP_alloc": 2,
        "node_sockstat_TCP_inuse": 2,
        "node_sockstat_TCP_mem": 285,
        "node_sockstat_TCP_mem_bytes": 285 * 4096,
        "node_sockstat_TCP_orphan": 0,
        "node_sockstat_TCP_tw": 4,
        "node_sockstat_UDP6_inuse": 0,
        "node_sockstat_UDPLITE6_inuse": 0,
        "node_sockstat_UDPLITE_inuse": 0,
        "node_sockstat_UDP_inuse": 0,
        "node_sockstat_UDP_mem": 0,
        "node_sockstat_UDP_mem_bytes": 0,
        "node_sockstat_sockets_used": 11,
    }
    assert all(f.type == GAUGE for f in fams.values())
    assert fams["node_sockstat_sockets_used"].help == "Number of IPv4 sockets in use."
    assert fams["node_sockstat_TCP_mem_bytes"].help == "Number of TCP sockets in state mem_bytes."
    assert fams["node_sockstat_FRAG6_memory"].help == "Number of FRAG6 sockets in state memory."
    assert "node_sockstat_TCP_mem_bytes 1167360\n" in render_text(fams.values())


def test_sockstat_collector_without_sockstat6(proc):
    write(proc / "net" / "sockstat", SOCKSTAT)
    fams = run(SockstatCollector(settings(proc)))
    assert len(fams) == 14  # 20 minus TCP6, UDP6, UDPLITE6, RAW6 and FRAG6 inuse/memory
    assert not any("6_" in name for name in fams)
    (proc / "net" / "sockstat").unlink()
    write(proc / "net" / "sockstat6", SOCKSTAT6)
    with pytest.raises(FileNotFoundError):
        run(SockstatCollector(settings(proc)))


# --------------------------------------------------------------------------- softnet


def test_parse_softnet_stat():
    assert [r[:4] for r in parse_softnet_stat(SOFTNET_STAT)] == [(0, 0x1CF89, 0, 0), (1, 0x18DF6, 3, 26)]
    # a 2.6-era kernel with 10 columns: no CPU id column, the row number is the cpu; missing columns read 0
    assert parse_softnet_stat("0000000a 00000001 00000002 0 0 0 0 0 00000004 00000005\n") == [(0, 10, 1, 2, 4, 5, 0, 0)]
    with pytest.raises(ValueError, match="at least 9"):
        parse_softnet_stat("0000000a 00000001 00000002\n")
    with pytest.raises(ValueError, match="not hexadecimal"):
        parse_softnet_stat("zz 1 2 3 4 5 6 7 8\n")


def test_softnet_cpu_label_is_the_cpu_id_column():
    """node_exporter 1.9: with CPU 1 offline the rows are CPUs 0 and 2, and the labels say so."""
    text = (
        "00000001 0 0 0 0 0 0 0 00000007 00000008 00000009 0000000a 00000000\n00000002 0 0 0 0 0 0 0 0 0 0 0 00000002\n"
    )
    rows = parse_softnet_stat(text)
    assert [r.cpu for r in rows] == [0, 2]
    assert rows[0] == (0, 1, 0, 0, 7, 8, 9, 10)


def test_softnet_collector(proc):
    write(proc / "net" / "softnet_stat", SOFTNET_STAT)
    fams = run(SoftnetCollector(settings(proc)))
    assert list(fams) == [
        "node_softnet_processed_total",
        "node_softnet_dropped_total",
        "node_softnet_times_squeezed_total",
        "node_softnet_cpu_collision_total",
        "node_softnet_received_rps_total",
        "node_softnet_flow_limit_count_total",
        "node_softnet_backlog_len",
    ]
    for name, fam in fams.items():
        assert fam.type == (GAUGE if name == "node_softnet_backlog_len" else COUNTER) and fam.labelnames == ("cpu",)
    assert samples(fams["node_softnet_processed_total"]) == {'{cpu="0"}': 118665, '{cpu="1"}': 101878}
    assert samples(fams["node_softnet_dropped_total"]) == {'{cpu="0"}': 0, '{cpu="1"}': 3}
    assert samples(fams["node_softnet_times_squeezed_total"]) == {'{cpu="0"}': 0, '{cpu="1"}': 26}
    assert samples(fams["node_softnet_backlog_len"]) == {'{cpu="0"}': 0, '{cpu="1"}': 0}
    assert fams["node_softnet_processed_total"].help == "Number of processed packets"
    assert fams["node_softnet_dropped_total"].help == "Number of dropped packets"
    assert fams["node_softnet_times_squeezed_total"].help == "Number of times processing packets ran out of quota"
    assert 'node_softnet_processed_total{cpu="1"} 101878\n' in render_text(fams.values())
    (proc / "net" / "softnet_stat").unlink()
    with pytest.raises(FileNotFoundError):
        run(SoftnetCollector(settings(proc)))


# --------------------------------------------------------------------------- udp_queues


def test_parse_udp_queues():
    assert parse_udp_queues(UDP) == (0x10, 0x680)
    assert parse_udp_queues(UDP6) == (0, 0x340)
    assert parse_udp_queues(UDP_EMPTY) == (0, 0)
    assert parse_udp_queues("") == (0, 0)
    with pytest.raises(ValueError, match="malformed"):
        parse_udp_queues(UDP_EMPTY + "   1: 0100007F:9A5B 00000000:0000 07\n")
    with pytest.raises(ValueError, match="not hexadecimal"):
        parse_udp_queues(UDP_EMPTY + "   1: 0100007F:9A5B 00000000:0000 07 0000000G:00000000 00:00000000 0 0 0 1\n")


def test_udp_queues_collector(proc):
    write(proc / "net" / "udp", UDP)
    write(proc / "net" / "udp6", UDP6)
    fams = run(UDPQueuesCollector(settings(proc)))
    fam = fams["node_udp_queues"]
    assert fam.type == GAUGE and fam.labelnames == ("ip", "queue")
    assert fam.help == "Number of allocated memory in the kernel for UDP datagrams in bytes."
    assert samples(fam) == {
        '{ip="v4",queue="rx"}': 1664,
        '{ip="v4",queue="tx"}': 16,
        '{ip="v6",queue="rx"}': 832,
        '{ip="v6",queue="tx"}': 0,
    }
    assert 'node_udp_queues{ip="v4",queue="rx"} 1664\n' in render_text(fams.values())


def test_udp_queues_collector_without_udp6(proc):
    write(proc / "net" / "udp", UDP_EMPTY)
    fams = run(UDPQueuesCollector(settings(proc)))
    assert samples(fams["node_udp_queues"]) == {'{ip="v4",queue="rx"}': 0, '{ip="v4",queue="tx"}': 0}
    (proc / "net" / "udp").unlink()
    write(proc / "net" / "udp6", UDP6)
    with pytest.raises(FileNotFoundError):
        run(UDPQueuesCollector(settings(proc)))


# --------------------------------------------------------------------------- arp


def test_parse_arp():
    # incomplete entries (flags 0x0) count too, as in node_exporter 1.5.0
    assert parse_arp(ARP) == {"eth0": 2, "br0": 1}
    assert parse_arp(ARP_EMPTY) == {}
    assert parse_arp("") == {}
    with pytest.raises(ValueError, match="6 expected"):
        parse_arp(ARP_EMPTY + "192.0.2.1 0x1 0x2 02:fc:00:00:00:05 *\n")
    # node_exporter 1.9 (procfs) checks the flags and the hardware address of each row.
    with pytest.raises(ValueError, match="flags"):
        parse_arp(ARP_EMPTY + "192.0.2.1 0x1 zz 02:fc:00:00:00:05 * eth0\n")
    with pytest.raises(ValueError, match="hardware address"):
        parse_arp(ARP_EMPTY + "192.0.2.1 0x1 0x2 02:fc:00:00 * eth0\n")


def test_arp_netlink_matches_the_hosts_proc_net_arp(tmp_path):
    """The default (1.9) source is rtnetlink: the exporter's own namespace, whatever --path.procfs says.
    Its IPv4 neighbour count per device is what the host's /proc/net/arp lists."""
    collector = ARPCollector(settings(tmp_path / "nowhere"))
    assert collector.netlink
    fam = run(collector)["node_arp_entries"]
    with open("/proc/net/arp") as f:
        expected = parse_arp(f.read())
    assert samples(fam) == {f'{{device="{d}"}}': n for d, n in expected.items()}


def test_arp_collector(proc):
    write(proc / "net" / "arp", ARP)
    fams = run(ARPCollector(settings(proc, collector_arp_netlink=False)))
    fam = fams["node_arp_entries"]
    assert fam.type == GAUGE and fam.labelnames == ("device",)
    assert fam.help == "ARP entries by device"
    assert samples(fam) == {'{device="br0"}': 1, '{device="eth0"}': 2}
    assert 'node_arp_entries{device="eth0"} 2\n' in render_text(fams.values())
    fam = run(ARPCollector(settings(proc, collector_arp_netlink=False, collector_arp_device_exclude="^br")))[
        "node_arp_entries"
    ]
    assert samples(fam) == {'{device="eth0"}': 2}
    fam = run(ARPCollector(settings(proc, collector_arp_netlink=False, collector_arp_device_include="^br")))[
        "node_arp_entries"
    ]
    assert samples(fam) == {'{device="br0"}': 1}
    with pytest.raises(ConfigError, match="mutually exclusive"):
        ARPCollector(settings(proc, collector_arp_device_include="a", collector_arp_device_exclude="b"))
    with pytest.raises(ConfigError, match="collector.arp.device-include"):
        ARPCollector(settings(proc, collector_arp_device_include="("))


def test_arp_collector_empty_table(proc):
    """No neighbours: the family has no samples, so nothing is rendered (as in Go)."""
    write(proc / "net" / "arp", ARP_EMPTY)
    fams = run(ARPCollector(settings(proc, collector_arp_netlink=False)))
    assert fams["node_arp_entries"].samples == []
    assert render_text(fams.values()) == ""
    (proc / "net" / "arp").unlink()
    with pytest.raises(FileNotFoundError):
        run(ARPCollector(settings(proc, collector_arp_netlink=False)))


# --------------------------------------------------------------------------- declarations


@pytest.mark.parametrize(
    "cls", [VmstatCollector, NetstatCollector, SockstatCollector, SoftnetCollector, UDPQueuesCollector, ARPCollector]
)
def test_collectors_are_default_enabled_and_declare_their_families(cls):
    assert cls.default_enabled
    assert cls.metrics and cls.description
    for flag in cls.flags:
        assert flag.flag.startswith(f"--collector.{cls.name}.")


def test_netstat_default_is_node_exporter_1_9s():
    assert "TCPOFOQueue|TCPRcvQDrop)" in NETSTAT_DEFAULT_FIELDS
