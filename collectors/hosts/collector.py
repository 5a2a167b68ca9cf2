"""Collector "hosts": which compute hosts exist and which are online, for gap P4.

Where the list comes from, in this order:
1. Proxmox VE's `/etc/pve/.members` ([hosts].members) when it exists. A clustered node's file lists every
   node with corosync's online flag; a standalone node's lists only itself (online: it wrote the file).
   On a standalone node the configured compute hosts, if any, are probed too: the node says nothing
   about other machines.
2. Otherwise the configured compute hosts ([hosts].compute), probed over TCP concurrently, each within
   [hosts].timeout.
3. Neither: this host is not part of a compute cluster and nothing is configured. The ComputeScan says so
   (source ""), and P4 reads "not applicable" rather than raising an alert on every NAS and Debian box.
   Only for the default path, though: a [hosts] members path the operator wrote that does not exist (a typo,
   an unmounted share) is a problem with the reason, not "no cluster". The config cannot tell the default
   path written out from the default, so /etc/pve/.members written explicitly reads as the default does.

A .members that exists but cannot be read or makes no sense (pmxcfs half up, a truncated copy, a FIFO, a
wrong path), or is missing from a directory that exists (/etc/pve without pmxcfs mounted on it), is not
"not Proxmox" and never "0 hosts online": the scan is incomplete with the reason, and P4 reads unknown,
unless configured compute hosts are there to probe instead.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from collectors.hosts.config import DEFAULT_MEMBERS, HostsConfig, ProbeTarget
from collectors.hosts.members import Members, MembersError, parse_members, read_members
from collectors.hosts.probe import ProbeResult, probe
from collectors.kit.context import RunContext
from collectors.kit.fanout import fan_out
from collectors.kit.resolve import Resolver
from collectors.kit.warnonce import WarnOnce
from collectors.model.readings import AnyReading, ComputeScan, HostReading

log = logging.getLogger("physgap.hosts")

# Hosts probed at once: a homelab lists a handful; the cap bounds threads and sockets for a long list.
PROBE_CONCURRENCY = 16

NOT_APPLICABLE = "no {members} and no [hosts] compute list: this host is not part of a compute cluster"


class HostsCollector:
    name = "hosts"

    def __init__(self, config: HostsConfig) -> None:
        self._config = config
        self._targets = config.targets
        self._warn = WarnOnce(log, "hosts: ")
        # Names whose lookup still hangs from an earlier round are waited on, not looked up again.
        self._resolver = Resolver("physgap-hosts-resolve")

    def collect(self, ctx: RunContext) -> Sequence[AnyReading]:
        members_problem = ""
        path = self._config.members
        if path is not None:
            try:
                data = read_members(path)
                if data is None and path.parent.is_dir():
                    # /etc/pve is pmxcfs' mount point: there but without .members, the cluster filesystem is
                    # not mounted. That is a Proxmox node with a problem, not "no Proxmox here".
                    raise MembersError(f"missing, but {path.parent} exists: is the Proxmox VE cluster "
                                       "filesystem (pve-cluster, pmxcfs) running?")
                if data is None and path != DEFAULT_MEMBERS:
                    raise MembersError("the configured .members does not exist (check [hosts] members, and "
                                       "whether the file system holding it is mounted)")
                members = None if data is None else parse_members(data)
            except MembersError as exc:
                members_problem = f"{path}: {exc}"
                self._warn.warn(f"members:{exc}", "%s", members_problem)
            else:
                if members is not None:
                    if members.cluster is None and (path.parent / "corosync.conf").exists():
                        # pmxcfs writes only the node's own name until it has loaded the cluster from corosync
                        # (after a boot, a restart of pve-cluster): "standalone" now would open P4 as high on
                        # every node of a healthy cluster for a while.
                        return [ComputeScan(source="pve", complete=False, reason=(
                            f"{path} lists no cluster yet, but {path.parent / 'corosync.conf'} exists: the cluster "
                            "filesystem has not loaded the cluster membership (pve-cluster just started?)"))]
                    return self._from_members(members, ctx)
        if self._targets:
            hosts = self._probed(ctx)
            note = f"{members_problem}; probed the configured compute hosts instead" if members_problem else ""
            return self._summary(hosts, "tcp", f"{len(hosts)} configured compute host(s) probed over TCP", note=note)
        if members_problem:
            return [ComputeScan(source="pve", complete=False, reason=members_problem)]
        where = str(path) if path is not None else "Proxmox membership file ([hosts] members is off)"
        return [ComputeScan(source="", complete=True, reason=NOT_APPLICABLE.format(members=where))]

    def _from_members(self, members: Members, ctx: RunContext) -> list[AnyReading]:
        cluster = members.cluster
        if cluster is None:
            local = HostReading(host=members.nodename, source="pve", online=True, local=True,
                                detail="standalone Proxmox VE node (this host)")
            if not self._targets:
                return [local, ComputeScan(source="pve", complete=True, hosts_configured=1, hosts_online=1,
                                           reason=f"Proxmox VE node {members.nodename!r} is standalone (not "
                                                  "clustered)")]
            others = [h for h in self._probed(ctx) if h.host != members.nodename]
            return self._summary([local, *others], "pve",
                                 f"Proxmox VE node {members.nodename!r} is standalone; "
                                 f"{len(others)} configured compute host(s) probed")
        hosts: list[HostReading] = []
        for node in members.nodes:
            detail = {True: "corosync member", False: "not a corosync member now",
                      None: "online flag unreadable"}[node.online]
            hosts.append(HostReading(host=node.name, source="pve", online=node.online, detail=detail,
                                     address=node.ip, cluster=cluster.name, local=node.name == members.nodename))
        note = ""
        if cluster.expected_nodes is not None and cluster.expected_nodes != len(hosts):
            note = f"the cluster counts {cluster.expected_nodes} nodes, its node list has {len(hosts)}"
        return self._summary(hosts, "pve", f"Proxmox VE cluster {cluster.name!r}", cluster=cluster.name,
                             quorate=cluster.quorate, note=note)

    def _probed(self, ctx: RunContext) -> list[HostReading]:
        timeout = self._config.timeout

        def work(target: ProbeTarget, sub: RunContext) -> ProbeResult:
            # Ends a little before the fan-out stops waiting, so a probe that used its whole share (a slow
            # name lookup) still hands its reading back.
            return probe(target, sub.keeping_back(), timeout, self._resolver)

        def failed(target: ProbeTarget, error: BaseException) -> ProbeResult:
            return ProbeResult(None, f"probe failed: {error}", "")

        results = fan_out(ctx, self._targets, work, limit=PROBE_CONCURRENCY, on_error=failed,
                          name="physgap-hosts")
        hosts = []
        for target in self._targets:
            result = results.get(target, ProbeResult(None, "probe did not finish before the run's deadline", ""))
            hosts.append(HostReading(host=target.name, source="tcp", online=result.online, detail=result.detail,
                                     address=result.address))
        return hosts

    @staticmethod
    def _summary(hosts: list[HostReading], source: str, reason: str, cluster: str = "",
                 quorate: bool | None = None, note: str = "") -> list[AnyReading]:
        # The source was read; a host whose state is undetermined is said by its own reading, and the online
        # count is withheld, since it would read as a measured number.
        known = all(h.online is not None for h in hosts)
        scan = ComputeScan(source=source, complete=True, reason=reason, cluster=cluster, quorate=quorate,
                           hosts_configured=len(hosts),
                           hosts_online=sum(1 for h in hosts if h.online) if known else None, note=note)
        return [*hosts, scan]
