package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/header"
)

// startTrace runs e.Trace until the test ends and returns its records.
func startTrace(t *testing.T, e *Engine) <-chan TraceRecord {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	records := make(chan TraceRecord, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.Trace(ctx, func(line string) error {
			var rec TraceRecord
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Errorf("a trace line is not a record: %v: %s", err, line)
			}
			records <- rec
			return nil
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	for e.tracer.Load() == nil {
		time.Sleep(time.Millisecond)
	}
	return records
}

func next(t *testing.T, records <-chan TraceRecord) TraceRecord {
	t.Helper()
	select {
	case rec := <-records:
		return rec
	case <-time.After(5 * time.Second):
		t.Fatal("no trace record within 5 s")
		return TraceRecord{}
	}
}

// TestTraceTransmitAndReceive follows one packet each way: the records
// carry the bytes the daemon saw, the verdict, the kernel step, and a line
// with the interface's name, the fragment fields and the outer source as
// explain prints it.
func TestTraceTransmitAndReceive(t *testing.T) {
	e, devs, send := newTestEngine(t, meshYAML)
	records := startTrace(t, e)

	inner := innerPacket("192.168.41.0", "192.168.42.7", 100, true)
	devs["tunl0"].in = [][]byte{inner}
	runTransmit(e, devs["tunl0"])
	tx := next(t, records)
	if tx.Direction != "tx" || tx.Tunnel != "tunl0" || tx.Verdict != "send" || tx.Step != "iptunnel_xmit" {
		t.Errorf("transmit record: %+v", tx)
	}
	if !bytes.Equal(tx.InnerPacket(), inner) || len(tx.OuterPacket()) != 20+len(inner) || !bytes.Equal(tx.OuterPacket(), send.sent[0]) {
		t.Errorf("transmit record's packets: inner %x\nouter %x\nsent %x", tx.InnerPacket(), tx.OuterPacket(), send.sent[0])
	}
	for _, want := range []string{
		"tx tunl0: 192.168.41.0 > 192.168.42.7 tos 0x0 ttl 64 flags [DF] offset 0 len 100 | next hop 10.245.1.3 | path MTU 1500",
		"| iptunnel_xmit: " + OuterSource(header.AddrFrom32(0)) + " > 10.245.1.3 tos 0x0 ttl 64 flags [DF] offset 0 id ",
	} {
		if !strings.Contains(tx.Line, want) {
			t.Errorf("transmit line lacks %q:\n%s", want, tx.Line)
		}
	}

	reply := innerPacket("192.168.42.7", "192.168.41.0", 84, false)
	receive(e, send, outerPacket("10.245.1.3", "10.245.1.2", reply))
	rx := next(t, records)
	name := "link 2"
	if ifi, err := net.InterfaceByIndex(2); err == nil {
		name = ifi.Name
	}
	if rx.Direction != "rx" || rx.Link != 2 || rx.Device != name || rx.Tunnel != "tunl0" || rx.Verdict != "deliver" {
		t.Errorf("receive record: %+v", rx)
	}
	if !bytes.Equal(rx.InnerPacket(), reply) || len(rx.OuterPacket()) != 20+len(reply) {
		t.Errorf("receive record's packets: inner %x, outer %d bytes", rx.InnerPacket(), len(rx.OuterPacket()))
	}
	want := "rx " + name + ": 10.245.1.3 > 10.245.1.2 tos 0x0 ttl 64 id 2 flags [none] offset 0 len 104 | ip_tunnel_lookup: tunl0 | ECN decapsulate: unchanged | deliver 192.168.42.7 > 192.168.41.0 proto 1 flags [none] offset 0 len 84"
	if rx.Line != want {
		t.Errorf("receive line:\n got %s\nwant %s", rx.Line, want)
	}
}

// TestTraceVerdicts: the verdicts other than send and deliver name the
// kernel step that decided them, and keep the packet the daemon saw.
func TestTraceVerdicts(t *testing.T) {
	e, devs, send := newTestEngine(t, meshYAML)
	records := startTrace(t, e)

	big := innerPacket("192.168.41.0", "192.168.42.7", 1481, true)
	devs["tunl0"].in = [][]byte{big}
	runTransmit(e, devs["tunl0"])
	rec := next(t, records)
	if rec.Verdict != "frag_needed" || rec.Step != "tnl_update_pmtu" || rec.OuterPacket() != nil || !bytes.Equal(rec.InnerPacket(), big) {
		t.Errorf("frag needed: %+v", rec)
	}

	notECT := innerPacket("192.168.42.7", "192.168.41.0", 84, false)
	ce := outerPacket("10.245.1.3", "10.245.1.2", notECT)
	ce[1] = 3 // outer CE over an inner Not-ECT packet
	receive(e, send, ce)
	rec = next(t, records)
	if rec.Verdict != "drop" || rec.Reason != "ecn_drop" || rec.Step != "IP_ECN_decapsulate" || !strings.Contains(rec.Line, "| drop: ecn_drop (IP_ECN_decapsulate)") {
		t.Errorf("ECN drop: %+v", rec)
	}

	ect0 := innerPacket("192.168.42.7", "192.168.41.0", 84, false)
	ect0[1] = 2
	marked := outerPacket("10.245.1.3", "10.245.1.2", ect0)
	marked[1] = 3
	receive(e, send, marked)
	rec = next(t, records)
	if rec.Verdict != "deliver" || !strings.Contains(rec.Note, "set CE") || header.ECNOf(header.IPv4(rec.InnerPacket()).TOS()) != header.CE {
		t.Errorf("CE set on delivery: %+v", rec)
	}

	receive(e, send, outerPacket("10.245.1.3", "10.9.9.9", notECT)) // no tunnel has local 10.9.9.9, but tunl0 takes all
	rec = next(t, records)
	if rec.Verdict != "deliver" || rec.Tunnel != "tunl0" {
		t.Errorf("fallback: %+v", rec)
	}
}

// TestTraceLosesEventsNotPackets: a reader that does not keep up loses
// events, counted, and the datapath does not wait.
func TestTraceLosesEventsNotPackets(t *testing.T) {
	tr := &tracer{events: make(chan traceEvent, 2)}
	for range 5 {
		tr.push(traceEvent{}, make([]byte, 100))
	}
	if len(tr.events) != 2 || tr.dropped.Load() != 3 || tr.queued.Load() != 200 {
		t.Errorf("queued %d events (%d bytes), dropped %d; want 2 (200 bytes) and 3", len(tr.events), tr.queued.Load(), tr.dropped.Load())
	}
	tr = &tracer{events: make(chan traceEvent, 2)}
	tr.push(traceEvent{}, make([]byte, traceBytes+1))
	if len(tr.events) != 0 || tr.dropped.Load() != 1 || tr.queued.Load() != 0 {
		t.Errorf("an event past the byte bound was queued")
	}
}

func TestFragmentFields(t *testing.T) {
	for word, want := range map[uint16]string{
		0: "flags [none] offset 0", header.FlagDF: "flags [DF] offset 0",
		header.FlagMF | 185: "flags [+] offset 1480", 370: "flags [none] offset 2960",
	} {
		ip := header.IPv4(make([]byte, 20))
		ip.SetFlagsFragmentOffset(word)
		if got := fragmentFields(ip); got != want {
			t.Errorf("%#04x: got %q, want %q", word, got, want)
		}
	}
}
