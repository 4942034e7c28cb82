// Package packettest builds the packets that every test feeds the
// datapath, the sockets and the daemon, so that each kind is built one
// way: inner IPv4 ICMP, UDP and TCP packets and the outer IPIP packet
// around them, with the TOS, ECN, DF, TTL and ID a test chooses (IP);
// ICMP errors as routers send them (Unreachable); TCP segments as a
// sender sends them (Flow), the one packet GRO merges them into; and the
// fuzz seeds under a package's testdata. Its own tests decode what it
// builds with gopacket. Only tests import it.
package packettest
