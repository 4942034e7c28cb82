package mmsg

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"
)

func headers(bufs [][]byte) []unix.Mmsghdr {
	hdrs := make([]unix.Mmsghdr, len(bufs))
	iovs := make([]unix.Iovec, len(bufs))
	for i, b := range bufs {
		iovs[i].Base = &b[0]
		iovs[i].SetLen(len(b))
		hdrs[i].Hdr.Iov = &iovs[i]
		hdrs[i].Hdr.SetIovlen(1)
	}
	return hdrs
}

// Over a non-blocking datagram socket pair: a batch goes out and comes
// back in one call each, an empty socket is "not ready", and an error is
// the errno of the first message.
func TestSendReceive(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	out := [][]byte{[]byte("one"), []byte("two"), []byte("three")}
	if n, errno, ready := Send(uintptr(fds[0]), headers(out)); n != 3 || errno != 0 || !ready {
		t.Fatalf("Send = %d, %v, %v; want 3, 0, true", n, errno, ready)
	}
	in := [][]byte{make([]byte, 16), make([]byte, 16), make([]byte, 16), make([]byte, 16)}
	hdrs := headers(in)
	n, errno, ready := Receive(uintptr(fds[1]), hdrs)
	if n != 3 || errno != 0 || !ready {
		t.Fatalf("Receive = %d, %v, %v; want 3, 0, true", n, errno, ready)
	}
	for i := range n {
		if got := in[i][:hdrs[i].Len]; !bytes.Equal(got, out[i]) {
			t.Errorf("message %d: %q, want %q", i, got, out[i])
		}
	}
	if n, errno, ready := Receive(uintptr(fds[1]), hdrs); n != 0 || errno != 0 || ready {
		t.Fatalf("Receive on an empty socket = %d, %v, %v; want 0, 0, false", n, errno, ready)
	}
	if _, errno, ready := Send(^uintptr(0), headers(out)); errno != unix.EBADF || !ready {
		t.Fatalf("Send on a bad descriptor: %v, %v; want EBADF, true", errno, ready)
	}
}
