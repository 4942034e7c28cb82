// Package packettest builds the packets that tests of several packages
// feed the datapath, so that each kind is built one way: TCP segments as a
// sender sends them, the one packet GRO merges them into, and the fuzz
// seeds under a package's testdata. Only tests import it.
package packettest
