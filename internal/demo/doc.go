// Package demo is the engine of `ipipd demo`: on a fresh machine it builds
// the seed walkthrough's three-node tunl0 mesh in network namespaces, runs
// one ipipd daemon per node, pings every pair across the tunnels, prints the
// daemons' counters and one decoded outer+inner packet, and cleans up.
//
// Everything lives in namespaces the demo creates itself, named
// "ipipd-demo-<run id>-<role>": a hub holding a Linux bridge and three
// nodes, each with a veth into the bridge. Veth pairs are created inside
// the hub with their peer placed directly into the node, so nothing ever
// appears in the host namespace, and deleting the namespaces removes every
// link. The only traffic is between 10.245.1.0/24 (the underlay) and
// 192.168.41-43.0 (the tunnel addresses), inside those namespaces.
//
// The pieces are separate so they can be tested alone:
//
//	prereq.go    root, ip, ping and the binary, checked before anything is made
//	netns.go     running code and commands inside a namespace, bounded
//	topology.go  the namespaces, bridge and veths, and their removal
//	configs.go   each node's ipipd config file
//	daemon.go    starting, waiting for, querying and stopping one daemon
//	ping.go      one ping across the tunnel and its result line
//	capture.go   an AF_PACKET capture of one IPIP packet on the underlay
//	decode.go    the tcpdump-like decode and hex dump of that packet
//	run.go       Run, which puts them in order and always cleans up
//	narrative.go what Run prints besides the results: topology, plan, Keep
//
// testdata/fakedaemon.sh stands in for ipipd in the daemon and Run tests: it
// has ipipd's command line and brings up a TUN device named tunl0, but moves
// no packets, so those tests cover every step and the failure paths, not a
// successful ping.
package demo
