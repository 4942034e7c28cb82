package tun

import (
	"errors"
	"net"
	"syscall"
	"testing"
)

// BenchmarkTUNRead measures how many packets per second each backend reads
// while a UDP socket in the namespace blasts 1400-byte datagrams at the
// TUN's peer: as plain sends (one datagram per sendmsg, so the kernel hands
// both backends single packets), and as UDP_SEGMENT sends of 40 datagrams
// (one super-packet per send that the offload backend takes whole and the
// plain TUN gets segmented by the kernel). Compare pkts/s between the
// backends of one sender; pkts/read is the batch a Read returned on average.
//
// Run: sudo go test -run '^$' -bench TUNRead ./tun/
func BenchmarkTUNRead(b *testing.B) {
	for _, segments := range []int{1, 40} {
		sender := "plain"
		if segments > 1 {
			sender = "udp_segment"
		}
		for _, be := range backends {
			b.Run(sender+"/"+be.name, func(b *testing.B) {
				benchmarkRead(b, be, segments)
			})
		}
	}
}

// benchmarkRead reads from a fresh device of be while sendLoop fills it;
// segments is the number of 1400-byte datagrams per send.
func benchmarkRead(b *testing.B, be backend, segments int) {
	dev := be.open(b)
	// Created here, in the namespace; used from the sender's goroutine.
	conn := dialPeer(b, 9)
	const datagram = 1400
	if segments > 1 {
		setUDPSegment(b, conn, datagram)
	}
	senderErr := make(chan error, 1)
	go sendLoop(conn, make([]byte, segments*datagram), dev, senderErr)
	defer func() {
		conn.Close()
		<-senderErr
	}()

	bufs, sizes := newBatch(dev.BatchSize())
	packets, reads := 0, 0
	for b.Loop() {
		n, err := dev.Read(bufs, sizes, testOffset)
		if err != nil && IsClosed(err) {
			b.Fatalf("read: %v; sender: %v", err, <-senderErr)
		}
		packets += n
		reads++
	}
	b.ReportMetric(float64(packets)/b.Elapsed().Seconds(), "pkts/s")
	b.ReportMetric(float64(packets)/float64(reads), "pkts/read")
}

// sendLoop sends buf on conn until conn is closed, then reports nil on done.
// Any other failure is reported and closes dev, so that the benchmark's
// blocked Read ends instead of waiting for packets that will not come.
func sendLoop(conn *net.UDPConn, buf []byte, dev Device, done chan<- error) {
	for {
		_, err := conn.Write(buf)
		switch {
		case err == nil, errors.Is(err, syscall.ENOBUFS):
			// ENOBUFS: the TUN's queue is full and the kernel dropped it.
		case errors.Is(err, net.ErrClosed):
			done <- nil
			return
		default:
			dev.Close()
			done <- err
			return
		}
	}
}
