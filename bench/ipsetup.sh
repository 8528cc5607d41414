#!/bin/sh
# ipsetup.sh LINK ADDR: what `prison run --ip ADDR` does to the network,
# done with ip(8) and nsenter(1) the way a shell-script jail manager would,
# for a network namespace that unshare(1) makes, then undone. The benchmark
# compares prison's netlink path with this.
set -e
link=$1 addr=$2
unshare --net --fork sleep 60 &
holder=$!
# unshare forks the namespace's process: wait until it is there.
while [ -z "$pid" ]; do pid=$(pgrep -P "$holder" sleep || true); done
injail() { nsenter -t "$pid" -n "$@"; }
ip link add "$link" type veth peer name eth0 netns "$pid"
ip addr add 169.254.1.1/32 dev "$link" scope link
ip link set "$link" up
echo 1 > "/proc/sys/net/ipv4/conf/$link/forwarding"
ip route add "$addr/32" dev "$link"
ip route add "$addr/32" dev "$link" table 1886519296
ip rule add iif "$link" lookup 1886519296 priority 1740
ip rule add iif "$link" unreachable priority 1742
injail ip link set lo up
injail ip addr add "$addr/32" dev eth0
injail ip link set eth0 up
injail ip route add default via 169.254.1.1 dev eth0 onlink
kill "$holder" "$pid"
wait 2>/dev/null || true
ip rule del iif "$link" lookup 1886519296 priority 1740
ip rule del iif "$link" unreachable priority 1742
