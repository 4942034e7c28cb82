package icmperr

import (
	"testing"

	"github.com/ipipd/ipipd/internal/header"
	"golang.org/x/net/bpf"
)

// filterVM runs Filter in x/net/bpf's interpreter, which, like the kernel,
// ends the program with 0 (drop) on a load past the end.
func filterVM(t testing.TB) *bpf.VM {
	t.Helper()
	vm, err := bpf.NewVM(Filter())
	if err != nil {
		t.Fatal(err)
	}
	return vm
}

// filterRef is what Filter is meant to compute, in Go.
func filterRef(pkt []byte) bool {
	if len(pkt) < 1 {
		return false
	}
	hl := int(pkt[0]&0x0f) * 4
	if len(pkt) <= hl+offQuotedProto {
		return false
	}
	typ := pkt[hl+offType]
	return (typ == TypeDestUnreach || typ == TypeRedirect || typ == TypeTimeExceeded) &&
		pkt[hl+offQuotedProto] == header.ProtocolIPIP
}

// TestFilter: the filter passes everything Parse accepts (it must never
// hide an event), drops echo traffic and errors about other protocols, and
// agrees with filterRef on every case cut at every length.
func TestFilter(t *testing.T) {
	vm := filterVM(t)
	if _, err := bpf.Assemble(Filter()); err != nil {
		t.Fatalf("Filter does not assemble: %v", err)
	}
	mustDrop := map[string]bool{
		"echo reply": true, "echo request": true, "source quench": true,
		"parameter problem": true, "quote of protocol 17": true, "empty": true,
	}
	for _, c := range parseCases() {
		got, err := vm.Run(c.pkt)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if c.ok && got < len(c.pkt) {
			t.Errorf("%s: Parse accepts it, the filter keeps %d of %d bytes", c.name, got, len(c.pkt))
		}
		if mustDrop[c.name] && got != 0 {
			t.Errorf("%s: the filter passed it", c.name)
		}
		for n := 0; n <= len(c.pkt); n++ {
			got, _ := vm.Run(c.pkt[:n])
			if (got != 0) != filterRef(c.pkt[:n]) {
				t.Errorf("%s cut to %d bytes: filter %d, reference %v", c.name, n, got, filterRef(c.pkt[:n]))
			}
		}
	}
}
