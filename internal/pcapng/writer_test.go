package pcapng

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// packet is a 60-byte IPv4 header plus payload, numbered in its ID field.
func packet(n int) []byte {
	p := make([]byte, 60)
	p[0], p[2], p[3], p[5], p[9] = 0x45, 0, 60, byte(n), 1
	copy(p[12:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
	return p
}

// readAll returns every packet of a pcapng file with its interface name
// and comments, read by gopacket's reader (an independent decoder).
func readAll(t *testing.T, path string) (pkts [][]byte, intfs, comments []string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for {
		data, ci, opts, err := r.ReadPacketDataWithOptions()
		if err != nil {
			break
		}
		intf, err := r.Interface(ci.InterfaceIndex)
		if err != nil {
			t.Fatal(err)
		}
		if intf.LinkType != layers.LinkTypeIPv4 {
			t.Errorf("interface %s: link type %v, want IPv4", intf.Name, intf.LinkType)
		}
		pkts = append(pkts, data)
		intfs = append(intfs, intf.Name)
		comments = append(comments, strings.Join(opts.Comments, "|"))
	}
	return pkts, intfs, comments
}

func TestWriteReadBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trace.pcapng")
	w, err := Create(path, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1700000000, 123456789)
	for i, name := range []string{"eth0", "tunl0", "eth0"} {
		if err := w.Write(Packet{Time: at, Interface: name, Data: packet(i), Comment: fmt.Sprintf("verdict %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	pkts, intfs, comments := readAll(t, path)
	if len(pkts) != 3 {
		t.Fatalf("read %d packets, want 3", len(pkts))
	}
	for i, want := range []string{"eth0", "tunl0", "eth0"} {
		if intfs[i] != want || comments[i] != fmt.Sprintf("verdict %d", i) || !bytes.Equal(pkts[i], packet(i)) {
			t.Errorf("packet %d: interface %q comment %q, want %q and \"verdict %d\"", i, intfs[i], comments[i], want, i)
		}
	}
	// tcpdump, when installed, is the other reader the trace is made for.
	if _, err := exec.LookPath("tcpdump"); err == nil {
		out, err := exec.Command("tcpdump", "-nr", path).CombinedOutput()
		if err != nil || strings.Count(string(out), "10.0.0.1 > 10.0.0.2") != 3 {
			t.Errorf("tcpdump -r: %v\n%s", err, out)
		}
	}
}

// TestRotate writes past the limit: the file is renamed to .1 and a new
// one begins, each a valid capture with its own interfaces, none past the
// limit, the newest packets in the file itself.
func TestRotate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trace.pcapng")
	const limit = 1000
	w, err := Create(path, limit)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40; i++ {
		if err := w.Write(Packet{Time: time.Now(), Interface: "eth0", Data: packet(i), Comment: "c"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	newest, _, _ := readAll(t, path)
	older, _, _ := readAll(t, path+".1")
	if len(newest) == 0 || len(older) == 0 {
		t.Fatalf("packets: %d in the file, %d in .1; want both", len(newest), len(older))
	}
	if got := newest[len(newest)-1][5]; got != 39 {
		t.Errorf("the file's last packet is %d, want 39", got)
	}
	for _, p := range []string{path, path + ".1"} {
		if fi, err := os.Stat(p); err != nil || fi.Size() > limit {
			t.Errorf("%s: %v, size %d, limit %d", p, err, fi.Size(), limit)
		}
	}
	if _, err := os.Stat(path + ".2"); err == nil {
		t.Errorf("a third file was kept")
	}
}

// TestEmpty: a trace that saw nothing still leaves a capture tools open.
func TestEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.pcapng")
	w, err := Create(path, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if pkts, _, _ := readAll(t, path); len(pkts) != 0 {
		t.Errorf("read %d packets from an empty capture", len(pkts))
	}
}
