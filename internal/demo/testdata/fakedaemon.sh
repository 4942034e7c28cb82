#!/bin/sh
# A stand-in for ipipd in the daemon lifecycle tests (daemon_test.go), with
# ipipd's command line:
#   fakedaemon.sh run -c FILE --control PATH   creates and brings up a TUN
#       device tunl0, creates PATH, and runs until SIGTERM, when it removes both
#   fakedaemon.sh show [-s] --control PATH     answers while PATH exists
# It moves no packets: it tests the demo's start, wait, show and stop, not
# the datapath.
cmd=$1
shift
ctl=
stats=
while [ $# -gt 0 ]; do
	case $1 in
	--control) ctl=$2; shift 2 ;;
	-c) shift 2 ;;
	-s) stats=1; shift ;;
	*) echo "fakedaemon: unknown argument $1" >&2; exit 2 ;;
	esac
done
[ -n "$ctl" ] || { echo "fakedaemon: --control is required" >&2; exit 2; }
case $cmd in
run)
	echo "fakedaemon: creating tunl0"
	ip tuntap add dev tunl0 mode tun || exit 1
	ip link set dev tunl0 up || exit 1
	trap 'ip link del dev tunl0; rm -f "$ctl"; echo "fakedaemon: stopped"; exit 0' TERM INT
	: >"$ctl"
	while :; do sleep 0.05; done
	;;
show)
	[ -e "$ctl" ] || { echo "fakedaemon: no daemon at $ctl" >&2; exit 1; }
	echo "tunl0: fake tunnel"
	[ -z "$stats" ] || echo "    fake counters"
	;;
*)
	echo "fakedaemon: unknown command $cmd" >&2
	exit 2
	;;
esac
