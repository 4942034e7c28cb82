// Package tcxmark marks the daemon's IPIP super-packets as the kernel's
// own ipip module would hand them to a device: an eBPF program on the
// egress of each underlay device (tcx, Linux 6.6+) turns a GSO frame of IP
// protocol 4 into an skb that carries SKB_GSO_IPXIP4.
//
// Why: a super-packet written on an AF_PACKET socket with a virtio-net
// header (internal/packetsock's GSOSender) can only say "TCPv4 segments"
// (virtio_net_hdr_to_skb knows no IPIP type). Before the device,
// validate_xmit_skb walks it with skb_gso_segment (the header makes it
// SKB_GSO_DODGY, and no device has tx-gso-robust): inet_gso_segment finds
// protocol 4 and calls ipip_gso_segment, which refuses any skb without
// SKB_GSO_IPXIP4, and the frame is dropped. bpf_skb_adjust_room with
// BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 sets exactly that mark (bpf_skb_net_grow:
// skb->encapsulation, the inner headers, gso_type |= SKB_GSO_IPXIP4); the
// kernel then passes the super-packet whole to a device with
// tx-ipxip4-segmentation, or segments it in software before one without.
// Measured in bench/cmd/outergso (docs/performance.md, "Outer I/O designs
// measured").
//
// The program is written with cilium/ebpf's asm package and loaded with
// its loader: no C compiler at build or run time. Loading it needs
// CAP_BPF and CAP_NET_ADMIN (or root).
package tcxmark

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// Marker is the loaded program and its attachments, one per egress
// device. Mark may be called from several goroutines.
type Marker struct {
	prog *ebpf.Program

	mu     sync.Mutex
	links  map[int]link.Link
	closed bool
}

// loopback is the index of lo in every network namespace.
const loopback = 1

// Load loads the program in the calling thread's network namespace and
// proves that it can be attached with tcx there (it is attached to lo and
// detached again), so that a kernel without tcx, or a process without
// CAP_BPF or CAP_NET_ADMIN, is found at start and not at the first
// super-packet.
//
// Equivalent to: bpftool prog load …; bpftool net attach tcx_egress … dev lo.
func Load() (*Marker, error) {
	prog, err := ebpf.NewProgramWithOptions(&ebpf.ProgramSpec{
		Name:         "ipipd_gso_mark",
		Type:         ebpf.SchedCLS,
		Instructions: program(),
		License:      "GPL", // bpf_skb_adjust_room is GPL-only
	}, ebpf.ProgramOptions{LogLevel: ebpf.LogLevelBranch})
	if err != nil {
		return nil, fmt.Errorf("tcxmark: loading the eBPF program (needs CAP_BPF and CAP_NET_ADMIN): %w", err)
	}
	probe, err := link.AttachTCX(link.TCXOptions{Interface: loopback, Program: prog, Attach: ebpf.AttachTCXEgress})
	if err != nil {
		prog.Close()
		return nil, fmt.Errorf("tcxmark: attaching with tcx (needs Linux 6.6 or later): %w", err)
	}
	probe.Close()
	return &Marker{prog: prog, links: map[int]link.Link{}}, nil
}

// Mark attaches the program to the egress of the device ifindex in the
// calling thread's network namespace, once: a later call for the same
// device asks the kernel whether the program is still there (one bpf
// system call) and attaches it again if not, as when the device went (the
// kernel detaches its programs with it) and this index is the same device
// made again, or another.
//
// Equivalent to: bpftool net attach tcx_egress PROG dev DEV.
func (m *Marker) Mark(ifindex int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errors.New("tcxmark: closed")
	}
	if l, ok := m.links[ifindex]; ok {
		if attached(l, ifindex) {
			return nil
		}
		l.Close()
		delete(m.links, ifindex)
	}
	// At the head of the chain: a program before it that ends the chain
	// (TCX_PASS, as some CNIs' do) would leave the super-packet unmarked,
	// and the kernel would refuse it silently at dequeue on a queued
	// device. Running first is harmless: it touches only ipipd's frames
	// (SocketMark) and passes everything on.
	l, err := link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: m.prog, Attach: ebpf.AttachTCXEgress, Anchor: link.Head()})
	if err != nil {
		return fmt.Errorf("tcxmark: attaching to the egress of device %d: %w", ifindex, err)
	}
	m.links[ifindex] = l
	return nil
}

// attached reports whether l is still on the device ifindex: a tcx link
// whose device went reports device 0 (tcx_link_fill_info). A kernel that
// cannot say leaves it taken for attached, as before the question.
func attached(l link.Link, ifindex int) bool {
	info, err := l.Info()
	if err != nil || info.TCX() == nil {
		return true
	}
	return int(info.TCX().Ifindex) == ifindex
}

// Forget detaches the program from ifindex, if it was attached: the device
// may have gone (the kernel then detached it already) and its index been
// given to another. The next Mark attaches again.
func (m *Marker) Forget(ifindex int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l, ok := m.links[ifindex]; ok {
		l.Close()
		delete(m.links, ifindex)
	}
}

// Close detaches the program from every device and unloads it.
func (m *Marker) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	var errs error
	for i, l := range m.links {
		errs = errors.Join(errs, l.Close())
		delete(m.links, i)
	}
	return errors.Join(errs, m.prog.Close())
}

// SocketMark is the mark (SO_MARK) on the socket ipipd sends its IPIP
// super-packets on, and the first thing the program tests: it marks those
// frames and no other, so that IPIP GSO traffic the host forwards or the
// kernel's own tunnel sends, already marked as encapsulated, goes by
// untouched (marking such a frame again fails, and the frame, its outer
// header already taken off, would be dropped). The program clears the
// mark, so a second copy of it on the same device passes the frame on.
const SocketMark = 0x69706970 // "ipip"

// Offsets the program reads.
const (
	skbMark        = 8   // offsetof(struct __sk_buff, mark)
	ethHeaderLen   = 14  // tcx egress on an Ethernet device: data starts at the MAC header
	outerHeaderLen = 20  // the daemon's outer header has no options
	skbGSOSize     = 176 // offsetof(struct __sk_buff, gso_size), include/uapi/linux/bpf.h
	// tcxNext lets the next program on the device run, as if this one
	// were not there (TCX_NEXT; TC_ACT_UNSPEC).
	tcxNext = -1
	tcxDrop = 2 // TCX_DROP
)

// program is the tcx egress program:
//
//	if skb->mark != SocketMark: next     only ipipd's own frames
//	if skb->gso_size == 0: next          only super-packets: every other frame goes on untouched
//	load the 20 bytes after the MAC header onto the stack;
//	unless they begin 0x45 (IPv4, no options) and byte 9 is 4 (IPIP): next
//	bpf_skb_adjust_room(-20, MAC, FIXED_GSO)                  drop the outer header: the inner one becomes the network header
//	bpf_skb_adjust_room(+20, MAC, FIXED_GSO | ENCAP_L3_IPV4)  room for it as an encapsulation: skb->encapsulation, SKB_GSO_IPXIP4
//	store the saved outer header back; skb->mark = 0.
//
// The outer header is the daemon's, byte for byte; the program only
// changes what the skb says about it. FIXED_GSO keeps gso_size (the inner
// segment size) as the sender wrote it. A failure after the first
// adjustment leaves a frame without its outer header: it is dropped.
func program() asm.Instructions {
	const saved = -24 // the outer header on the stack, r10-24 … r10-5
	return asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R0, asm.R6, skbMark, asm.Word),
		asm.JNE.Imm(asm.R0, SocketMark, "next"),
		asm.LoadMem(asm.R0, asm.R6, skbGSOSize, asm.Word),
		asm.JEq.Imm(asm.R0, 0, "next"),

		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, ethHeaderLen),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, saved),
		asm.Mov.Imm(asm.R4, outerHeaderLen),
		asm.FnSkbLoadBytes.Call(),
		asm.JNE.Imm(asm.R0, 0, "next"),
		asm.LoadMem(asm.R0, asm.RFP, saved, asm.Byte),
		asm.JNE.Imm(asm.R0, 0x45, "next"),
		asm.LoadMem(asm.R0, asm.RFP, saved+9, asm.Byte),
		asm.JNE.Imm(asm.R0, unix.IPPROTO_IPIP, "next"),

		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, -outerHeaderLen),
		asm.Mov.Imm(asm.R3, unix.BPF_ADJ_ROOM_MAC),
		asm.Mov.Imm(asm.R4, unix.BPF_F_ADJ_ROOM_FIXED_GSO),
		asm.FnSkbAdjustRoom.Call(),
		asm.JNE.Imm(asm.R0, 0, "next"), // nothing changed yet

		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, outerHeaderLen),
		asm.Mov.Imm(asm.R3, unix.BPF_ADJ_ROOM_MAC),
		asm.Mov.Imm(asm.R4, unix.BPF_F_ADJ_ROOM_FIXED_GSO|unix.BPF_F_ADJ_ROOM_ENCAP_L3_IPV4),
		asm.FnSkbAdjustRoom.Call(),
		asm.JNE.Imm(asm.R0, 0, "drop"),

		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, ethHeaderLen),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, saved),
		asm.Mov.Imm(asm.R4, outerHeaderLen),
		asm.Mov.Imm(asm.R5, 0),
		asm.FnSkbStoreBytes.Call(),
		asm.JNE.Imm(asm.R0, 0, "drop"),
		asm.StoreImm(asm.R6, skbMark, 0, asm.Word),

		asm.Mov.Imm(asm.R0, tcxNext).WithSymbol("next"),
		asm.Return(),
		asm.Mov.Imm(asm.R0, tcxDrop).WithSymbol("drop"),
		asm.Return(),
	}
}
