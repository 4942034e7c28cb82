package icmperr

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/internal/hexfile"
	"github.com/ipipd/ipipd/internal/packettest"
	"golang.org/x/net/bpf"
)

// seed is one commented hex packet under testdata/seeds; a name starting
// with "ok-" is an event, "no-" is not.
type seed struct {
	name string
	pkt  []byte
	ok   bool
}

func readSeeds(t testing.TB) []seed {
	files, err := hexfile.Glob("testdata/seeds/*.hex")
	if err != nil {
		t.Fatal(err)
	}
	seeds := make([]seed, len(files))
	for i, f := range files {
		seeds[i] = seed{name: f.Name, pkt: f.Bytes, ok: strings.HasPrefix(f.Name, "ok-")}
	}
	return seeds
}

// TestSeeds keeps the seeds honest: each says in its name what Parse does.
func TestSeeds(t *testing.T) {
	for _, s := range readSeeds(t) {
		if _, ok := Parse(s.pkt, 1); ok != s.ok {
			t.Errorf("%s: Parse ok = %v", s.name, ok)
		}
	}
}

// FuzzParse: on any bytes, Parse never panics, never writes to its input,
// and an accepted datagram satisfies every rule of section 5.1, and passes
// the BPF filter (which otherwise agrees with filterRef).
func FuzzParse(f *testing.F) {
	for _, s := range readSeeds(f) {
		f.Add(s.pkt, uint8(3))
	}
	vm := filterVM(f)
	f.Fuzz(func(t *testing.T, pkt []byte, link uint8) {
		checkParse(t, vm, pkt, int(link))
		// A random mutation almost never keeps the ICMP checksum valid; try
		// the same bytes with it fixed, so the checks past it get explored.
		if h := header.IPv4(pkt); h.IsValid(len(pkt)) && int(h.TotalLength())-h.HeaderLength() >= icmpHeaderLen {
			fixed := bytes.Clone(pkt)
			packettest.FixICMP(fixed)
			checkParse(t, vm, fixed, int(link))
		}
	})
}

// checkParse runs Parse and the filter on pkt and checks the results.
func checkParse(t *testing.T, vm *bpf.VM, pkt []byte, link int) {
	t.Helper()
	before := bytes.Clone(pkt)
	ev, ok := Parse(pkt[:len(pkt):len(pkt)], link)
	if !bytes.Equal(pkt, before) {
		t.Fatal("Parse changed its input")
	}
	accepted, _ := vm.Run(pkt)
	if (accepted != 0) != filterRef(pkt) {
		t.Fatalf("filter %d, reference %v", accepted, filterRef(pkt))
	}
	if !ok {
		if ev != (Event{}) {
			t.Fatalf("refused but returned %v", ev)
		}
		return
	}
	if accepted < len(pkt) {
		t.Fatalf("Parse accepts what the filter drops or cuts (%d of %d bytes)", accepted, len(pkt))
	}
	checkInvariants(t, pkt, ev, link)
}

// checkInvariants restates Parse's contract independently of its code.
func checkInvariants(t *testing.T, pkt []byte, ev Event, link int) {
	t.Helper()
	if len(pkt) < 20 || pkt[0]>>4 != 4 {
		t.Fatal("accepted a datagram without an IPv4 header")
	}
	hl := int(pkt[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(pkt[2:]))
	if hl < 20 || total < hl || total > len(pkt) || pkt[9] != header.ProtocolICMP {
		t.Fatalf("accepted a bad outer header: ihl %d, total %d of %d bytes, protocol %d", hl, total, len(pkt), pkt[9])
	}
	if binary.BigEndian.Uint16(pkt[6:])&0x3fff != 0 {
		t.Fatal("accepted a fragment")
	}
	if dst := binary.BigEndian.Uint32(pkt[16:]); dst>>28 == 0xe || dst == 0xffffffff {
		t.Fatal("accepted an error sent to multicast or broadcast")
	}
	icmp := pkt[hl:total]
	if len(icmp) < 8 || header.Checksum(icmp, 0) != 0xffff {
		t.Fatal("accepted a bad ICMP checksum")
	}
	typ, code := icmp[0], icmp[1]
	switch {
	case typ == 3 && code <= 15, typ == 11 && code == 0, typ == 5:
	default:
		t.Fatalf("accepted type %d code %d", typ, code)
	}
	quote := icmp[8:]
	if len(quote) < 20 {
		t.Fatal("accepted a quote shorter than an IPv4 header")
	}
	qhl := int(quote[0]&0x0f) * 4
	if qhl < 20 || len(quote) < qhl+8 || quote[9] != header.ProtocolIPIP {
		t.Fatalf("accepted a quote of ihl %d, %d bytes, protocol %d", qhl, len(quote), quote[9])
	}
	wantMTU := 0
	if typ == 3 && code == 4 {
		wantMTU = int(binary.BigEndian.Uint16(icmp[6:]))
	}
	want := Event{
		Type: typ, Code: code, MTU: wantMTU,
		Local:  header.IPv4(quote).SrcAddr(),
		Remote: header.IPv4(quote).DstAddr(),
		Link:   link,
		From:   header.IPv4(pkt).SrcAddr(),
	}
	if ev != want {
		t.Fatalf("event %v, want %v", ev, want)
	}
}
