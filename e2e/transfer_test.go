package e2e

import (
	"bytes"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/lab"
)

// transferTCP sends size bytes of a deterministic pseudo-random stream over
// TCP from src in fromNS to dst in toNS and checks that the SHA-256 of what
// arrives matches what was sent, all within timeout.
//
// The listening and the dialing socket are created inside Do, so each
// belongs to its namespace; reading and writing then happen on ordinary
// goroutines.
func transferTCP(t *testing.T, fromNS *lab.NS, src netip.Addr, toNS *lab.NS, dst netip.Addr, size int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var ln *net.TCPListener
	if err := toNS.Do(func() error {
		var err error
		ln, err = net.ListenTCP("tcp4", &net.TCPAddr{IP: dst.AsSlice()})
		return err
	}); err != nil {
		t.Fatalf("listen on %v in %s: %v", dst, toNS, err)
	}
	defer ln.Close()
	ln.SetDeadline(deadline)

	type result struct {
		n   int64
		sum []byte
		err error
	}
	received := make(chan result, 1)
	go func() {
		c, err := ln.AcceptTCP()
		if err != nil {
			received <- result{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(deadline)
		h := sha256.New()
		n, err := io.Copy(h, c)
		received <- result{n: n, sum: h.Sum(nil), err: err}
	}()

	var conn net.Conn
	port := ln.Addr().(*net.TCPAddr).Port
	if err := fromNS.Do(func() error {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice()}, Deadline: deadline}
		var err error
		conn, err = d.Dial("tcp4", netip.AddrPortFrom(dst, uint16(port)).String())
		return err
	}); err != nil {
		t.Fatalf("connect %v → %v:%d: %v", src, dst, port, err)
	}
	conn.SetDeadline(deadline)

	start := time.Now()
	rng := rand.NewChaCha8([32]byte{'i', 'p', 'i', 'p', 'd'})
	h := sha256.New()
	chunk := make([]byte, 64<<10)
	var sendErr error
	for sent := 0; sent < size && sendErr == nil; {
		b := chunk[:min(len(chunk), size-sent)]
		rng.Read(b)
		h.Write(b)
		var n int
		n, sendErr = conn.Write(b)
		sent += n
	}
	if sendErr == nil {
		sendErr = conn.(*net.TCPConn).CloseWrite()
	}
	r := <-received
	conn.Close()
	elapsed := time.Since(start)
	if sendErr != nil {
		t.Fatalf("sending %d bytes %v → %v: %v", size, src, dst, sendErr)
	}
	if r.err != nil {
		t.Fatalf("receiving at %v: %v after %d bytes", dst, r.err, r.n)
	}
	if r.n != int64(size) || !bytes.Equal(r.sum, h.Sum(nil)) {
		t.Fatalf("received %d bytes with SHA-256 %x; sent %d bytes with SHA-256 %x", r.n, r.sum, size, h.Sum(nil))
	}
	t.Logf("%d MB %v → %v in %v (%.0f Mbit/s), SHA-256 %x matches", size>>20, src, dst, elapsed.Round(time.Millisecond), float64(size)*8/elapsed.Seconds()/1e6, r.sum[:8])
}
