package rawsock_test

import (
	"errors"
	"log"
	"net"
	"syscall"

	"github.com/ipipd/ipipd/internal/rawsock"
)

// A transmit loop counts the packets the kernel refuses, skips them and
// sends the rest.
func ExampleSender_Write() {
	s, err := rawsock.NewSender(rawsock.SenderOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	var pkts [][]byte // whole IPv4 packets, outer header first, built by encap
	var tooBig, otherErrors int
	for len(pkts) > 0 {
		sent, err := s.Write(pkts)
		pkts = pkts[sent:]
		if err == nil {
			break
		}
		var errno syscall.Errno
		if !errors.As(err, &errno) {
			log.Fatal(err) // the socket itself failed
		}
		if errno == syscall.EMSGSIZE {
			tooBig++
		} else {
			otherErrors++
		}
		pkts = pkts[1:] // pkts[0] was refused: skip it
	}
}

// A receive loop reuses one Batch for every Read.
func ExampleReceiver_Read() {
	r, err := rawsock.NewReceiver(rawsock.ReceiverOptions{})
	if err != nil {
		log.Fatal(err)
	}
	batch := rawsock.NewBatch(rawsock.DefaultBatchSize, rawsock.MaxPacketSize)
	for {
		n, err := r.Read(batch)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			log.Fatal(err)
		}
		for i := range n {
			pkt, link := batch.Bufs[i][:batch.Sizes[i]], batch.Links[i]
			_, _ = pkt, link // decap: validate, look up the tunnel by (saddr, daddr, link), …
		}
	}
}
