package rawsock

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// cmsg builds one control message as the kernel lays it out.
func cmsg(level, typ int32, data []byte) []byte {
	b := make([]byte, unix.CmsgSpace(len(data)))
	h := (*unix.Cmsghdr)(unsafePointer(b))
	h.Level, h.Type = level, typ
	h.SetLen(unix.CmsgLen(len(data)))
	copy(b[unix.CmsgLen(0):], data)
	return b
}

func pktinfo(ifindex int32) []byte {
	data := make([]byte, unix.SizeofInet4Pktinfo)
	binary.NativeEndian.PutUint32(data, uint32(ifindex))
	copy(data[4:], []byte{10, 245, 7, 2, 10, 245, 7, 2})
	return cmsg(unix.IPPROTO_IP, unix.IP_PKTINFO, data)
}

func TestIngressIfindex(t *testing.T) {
	ttl := cmsg(unix.IPPROTO_IP, unix.IP_TTL, []byte{64, 0, 0, 0})
	tests := []struct {
		name string
		oob  []byte
		want int
	}{
		{"none", nil, 0},
		{"pktinfo", pktinfo(7), 7},
		{"after another message", append(ttl, pktinfo(123456)...), 123456},
		{"only another message", ttl, 0},
		{"header cut short", pktinfo(7)[:unix.SizeofCmsghdr-1], 0},
		{"data cut short", pktinfo(7)[:unix.CmsgLen(4)], 0},
		{"length beyond buffer", func() []byte {
			b := pktinfo(7)
			(*unix.Cmsghdr)(unsafePointer(b)).SetLen(1000)
			return b
		}(), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ingressIfindex(tt.oob); got != tt.want {
				t.Errorf("ingressIfindex = %d, want %d", got, tt.want)
			}
		})
	}
	oob := append(ttl, pktinfo(9)...)
	if allocs := testing.AllocsPerRun(100, func() { ingressIfindex(oob) }); allocs != 0 {
		t.Errorf("ingressIfindex allocates %v times", allocs)
	}
}

// FuzzIngressIfindex feeds arbitrary control bytes; the parser must neither
// panic nor loop.
func FuzzIngressIfindex(f *testing.F) {
	f.Add(pktinfo(2))                                                           // what the kernel sends
	f.Add(append(cmsg(unix.IPPROTO_IP, unix.IP_TTL, []byte{1}), pktinfo(3)...)) // two messages
	f.Add(make([]byte, unix.SizeofCmsghdr))                                     // a zero length field
	f.Add(pktinfo(4)[:20])                                                      // cut mid-data
	f.Fuzz(func(t *testing.T, oob []byte) {
		ingressIfindex(oob)
	})
}
