package engine

import (
	"io"
	"log/slog"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/config"
	"github.com/ipipd/ipipd/internal/rawsock"
)

// fakeDevice is an in-memory TUN: Read hands out queued packets, Write
// records what it was given (copies, so the caller may reuse buffers).
type fakeDevice struct {
	name    string
	in      [][]byte
	written [][]byte
	keep    bool // record writes; benchmarks turn it off to measure the loop alone
}

func (d *fakeDevice) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	n := 0
	for n < len(bufs) && len(d.in) > 0 {
		sizes[n] = copy(bufs[n][offset:], d.in[0])
		d.in = d.in[1:]
		n++
	}
	if n == 0 {
		return 0, os.ErrClosed
	}
	return n, nil
}

func (d *fakeDevice) Write(bufs [][]byte, offset int) (int, error) {
	if d.keep {
		for _, b := range bufs {
			d.written = append(d.written, append([]byte(nil), b[offset:]...))
		}
	}
	return len(bufs), nil
}

func (d *fakeDevice) BatchSize() int { return 64 }
func (d *fakeDevice) Name() string   { return d.name }
func (d *fakeDevice) Close() error   { return nil }

// fakeSender records the packets a loop sends.
type fakeSender struct {
	sent [][]byte
	keep bool
}

func (s *fakeSender) Write(pkts [][]byte) (int, error) {
	if s.keep {
		for _, p := range pkts {
			s.sent = append(s.sent, append([]byte(nil), p...))
		}
	}
	return len(pkts), nil
}

// fakeReceiver hands out queued outer packets, one batch per Read.
type fakeReceiver struct{ in [][]byte }

func (r *fakeReceiver) Read(b *rawsock.Batch) (int, error) {
	n := 0
	for n < len(b.Bufs) && len(r.in) > 0 {
		b.Sizes[n] = copy(b.Bufs[n], r.in[0])
		b.Links[n] = 2
		r.in = r.in[1:]
		n++
	}
	return n, nil
}

// newTestEngine builds an engine over fakes from YAML, without sockets or
// devices: the loops' logic alone.
func newTestEngine(t testing.TB, yaml string) (*Engine, map[string]*fakeDevice, *fakeSender) {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	p, err := compile(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := p.fileTables()
	if err != nil {
		t.Fatal(err)
	}
	send := &fakeSender{keep: true}
	e := &Engine{log: slog.New(slog.NewTextHandler(io.Discard, nil)), lastLogs: map[string]time.Time{},
		newSender: func(string, string, *Counters) Sender { return send },
		// Not the test host's own routes: a 1500-byte underlay everywhere.
		underlayMTU: func(netip.Addr, string) int { return 1500 }}
	devs := map[string]*fakeDevice{}
	st := &state{tables: tables, tunnels: p.tunnels, index: map[*runtime]int{}}
	for i := range st.tunnels {
		st.tunnels[i].pathMTU = 1500 // not the test host's own underlay
		d := &fakeDevice{name: st.tunnels[i].config.Name, keep: true}
		devs[d.name] = d
		rt := newRuntime(d.name, d, nil)
		rt.slot = i // the file tables name tunnels by their place
		st.tunnels[i].rt = rt
		st.index[rt] = i
	}
	e.state.Store(st)
	return e, devs, send
}
