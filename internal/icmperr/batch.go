package icmperr

const (
	// batchSize is the most datagrams one recvmmsg takes. ICMP errors that
	// pass the filter are rare next to data packets, so a small batch
	// suffices to drain a burst (one per oversize packet) in a few calls.
	batchSize = 16
	// bufSize holds any ICMP error a conforming router sends: icmp_send
	// and RFC 1812 4.3.2.3 cap the datagram at 576 bytes. A longer one is
	// truncated, fails Parse's total-length and checksum checks, and is
	// counted in Stats.Truncated.
	bufSize = 2048
)
