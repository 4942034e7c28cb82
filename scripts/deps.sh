#!/usr/bin/env bash
# Installs the system tools ipipd's demo, tests and benchmarks use, if any is
# missing: ip (iproute2), ping (iputils-ping), iperf3, tcpdump, bird and birdc
# (bird2: BIRD 2, the routing daemon e2e/bird_test.go runs), wg
# (wireguard-tools: configures the wireguard-go case of bench/cmd/ipipbench),
# ethtool (e2e/transmit_gso_test.go turns a veth's IPIP segmentation off).
# Debian/Ubuntu.
set -euo pipefail
need=()
command -v ip >/dev/null || need+=(iproute2)
command -v ping >/dev/null || need+=(iputils-ping)
command -v iperf3 >/dev/null || need+=(iperf3)
command -v tcpdump >/dev/null || need+=(tcpdump)
{ command -v bird >/dev/null && command -v birdc >/dev/null; } || need+=(bird2)
command -v wg >/dev/null || need+=(wireguard-tools)
command -v ethtool >/dev/null || need+=(ethtool)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing: ${need[*]}; install them (as root: apt-get install ${need[*]})" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "missing: ${need[*]}, and no apt-get here to install them; install them with your package manager" >&2
  exit 1
fi
echo "installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
# Packages are installed, not started: bird2's maintainer scripts would
# start a BIRD in the host's namespace, and the tests run their own, each
# in a namespace of their own. policy-rc.d answering 101 ("action
# forbidden") is how Debian's invoke-rc.d and deb-systemd-invoke are told
# so, for the install alone. One that was there already (a file or a
# symlink) is moved aside and moved back, never written through; a lock
# keeps two runs of this script from saving each other's.
apt-get update -qq
exec 9>/run/ipipd-deps.lock
flock 9
policy=/usr/sbin/policy-rc.d
aside=""
if [ -e "$policy" ] || [ -L "$policy" ]; then
  aside=$(mktemp -u /usr/sbin/.policy-rc.d.ipipd.XXXXXX)
  mv "$policy" "$aside"
fi
restore_policy() {
  rm -f "$policy"
  if [ -n "$aside" ]; then mv "$aside" "$policy"; fi
}
trap restore_policy EXIT
tmp=$(mktemp /usr/sbin/.policy-rc.d.new.XXXXXX)
printf '#!/bin/sh\nexit 101\n' >"$tmp"
chmod 755 "$tmp"
mv -T "$tmp" "$policy"
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
