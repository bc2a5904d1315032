#!/usr/bin/env bash
# A pretend cluster on one Linux machine: N network namespaces ("nodes") on a bridge, each link shaped with tc netem
# (rate + latency), and Open MPI over TCP between them, launched through this script as the rsh agent (it enters the
# node's namespace where ssh would log in). Recipe and results: Docs/Distributed.md. Needs root, iproute2, Open MPI.
#
#   netns_cluster.sh up 2 10gbit 50us     # nodes 10.77.0.1 and 10.77.0.2; the bridge (mpirun's side) is 10.77.0.254
#   netns_cluster.sh shape 1gbit 50us     # change every node's link
#   netns_cluster.sh mpirun -np 2 --map-by node lmkit train ...   # mpirun across the nodes (hostfile written by up)
#   netns_cluster.sh down
#
# What it does not model: the nodes share this machine's cores and memory bandwidth, so compute does not scale; only
# the network between the ranks is like separate machines.
set -euo pipefail
PREFIX=lmknode
BRIDGE=lmkbr0
SUBNET=10.77.0
STATE=/tmp/lmk-netns-cluster
SELF="$(readlink -f "$0")"

nodes() { cat "$STATE/count" 2>/dev/null || echo 0; }

# tc rate → a token-bucket burst of about 1 ms of traffic (at least one 64 KB TCP segment train).
burst_for() {
    local rate=$1 n=${1%%[a-z]*}
    case "$rate" in
        *gbit) echo $(( n * 125000 > 65536 ? n * 125000 : 65536 )) ;;
        *mbit) echo $(( n * 125 > 65536 ? n * 125 : 65536 )) ;;
        *) echo "rate must look like 1gbit, 10gbit or 100mbit, got $rate" >&2; exit 2 ;;
    esac
}

# rate delay: both ends of every node's link. netem gives rate and latency; kernels built without sch_netem (this
# project's VMs) get tbf instead: the rate only, no added latency (the cost model in Docs/Distributed.md adds it).
shape_all() {
    local rate=$1 delay=$2 i burst kind=netem
    burst=$(burst_for "$rate")
    ip netns exec ${PREFIX}1 tc qdisc replace dev eth0 root netem rate "$rate" delay "$delay" 2>/dev/null || kind=tbf
    for ((i = 1; i <= $(nodes); i++)); do
        for side in "ip netns exec $PREFIX$i tc qdisc replace dev eth0" "tc qdisc replace dev ${PREFIX}v$i"; do
            if [ $kind = netem ]; then $side root netem rate "$rate" delay "$delay" limit 100000
            else $side root tbf rate "$rate" burst "$burst" latency 100ms; fi
        done
    done
    echo "$rate $([ $kind = netem ] && echo "$delay" || echo "0 (no netem)")" > "$STATE/link"
    [ $kind = netem ] || echo "note: this kernel has no sch_netem; links are $rate (tbf) with no added latency" >&2
}

case "${1:-}" in
up)
    n=${2:?nodes}; rate=${3:-10gbit}; delay=${4:-50us}
    "$SELF" down >/dev/null 2>&1 || true
    mkdir -p "$STATE"
    ip link add $BRIDGE type bridge
    ip addr add $SUBNET.254/24 dev $BRIDGE
    ip link set $BRIDGE up
    : > "$STATE/hostfile"
    for ((i = 1; i <= n; i++)); do
        ip netns add $PREFIX$i
        ip link add ${PREFIX}v$i type veth peer name eth0 netns $PREFIX$i
        ip link set ${PREFIX}v$i master $BRIDGE up
        ip netns exec $PREFIX$i ip addr add $SUBNET.$i/24 dev eth0
        ip netns exec $PREFIX$i ip link set eth0 up
        ip netns exec $PREFIX$i ip link set lo up
        echo "$SUBNET.$i slots=1" >> "$STATE/hostfile"
    done
    echo "$n" > "$STATE/count"
    shape_all "$rate" "$delay"
    echo "up: $n nodes ($SUBNET.1-$SUBNET.$n), links: $(cat "$STATE/link") each way; hostfile $STATE/hostfile"
    ;;
shape)
    shape_all "${2:?rate}" "${3:?delay}"
    echo "links now: $(cat "$STATE/link") each way"
    ;;
down)
    for ((i = 1; i <= $(nodes); i++)); do ip netns del $PREFIX$i 2>/dev/null || true; done
    ip link del $BRIDGE 2>/dev/null || true
    rm -rf "$STATE"
    ;;
agent)
    # Open MPI calls the rsh agent as `agent [options] HOST COMMAND...`, HOST being a hostfile entry: run COMMAND in
    # that node's namespace (ssh would log in to the machine). Options ssh would take (-x, -l user) are skipped.
    shift
    while [[ "${1:-}" == -* ]]; do case "$1" in -l|-p|-i|-o) shift 2 ;; *) shift ;; esac; done
    host=$1; shift
    node=${host##*.}
    exec ip netns exec $PREFIX$node /bin/sh -c "$*"
    ;;
mpirun)
    shift
    # TCP between the nodes only (no shared memory), daemons and messages on the bridge's subnet, this script as ssh.
    # rtc_hwloc_vmhole none: the daemons of all "nodes" run on one machine, and their shared-memory copies of the
    # hardware topology raced (an orted crashed in hwloc_shmem_topology_write once); real machines do not need it.
    exec mpirun --allow-run-as-root --oversubscribe --hostfile "$STATE/hostfile" \
        --mca plm_rsh_agent "$SELF agent" --mca btl tcp,self --mca rtc_hwloc_vmhole none \
        --mca btl_tcp_if_include $SUBNET.0/24 --mca oob_tcp_if_include $SUBNET.0/24 \
        -x LMKIT_NUM_THREADS -x PATH "$@"
    ;;
*)
    sed -n '2,14p' "$SELF"
    exit 2
    ;;
esac
