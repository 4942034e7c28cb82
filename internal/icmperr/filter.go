package icmperr

import (
	"fmt"

	"github.com/ipipd/ipipd/internal/header"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// What the filter loads, relative to X = the outer header length, and what
// it returns (sk_filter_trim_cap: 0 drops, otherwise the bytes to keep).
const (
	offType          = 0                 // icmphdr.type
	offQuotedProto   = icmpHeaderLen + 9 // the quoted iphdr.protocol
	filterAcceptSize = 0xffff            // the whole datagram
	filterDrop       = 0
)

// Filter is the classic BPF program attached to the Reader's socket
// (SO_ATTACH_FILTER). The kernel runs it in sock_queue_rcv_skb, on the
// datagram from its IPv4 header on (raw_rcv pushes the skb back to the
// network header before raw_rcv_skb), so a datagram it drops is never
// copied to userspace. It keeps ICMP types 3, 5 and 11 whose quoted
// protocol is 4 and drops the rest; a load past the end also drops, as in
// the kernel. It is deliberately coarser than Parse (no checksum, code or
// length checks): anything Parse accepts passes it.
//
//	ldxb  4*([0]&0xf)        ; X = outer header length
//	ldb   [x+0]              ; ICMP type
//	jeq   #3,  quoted
//	jeq   #5,  quoted
//	jeq   #11, quoted
//	ret   #0
//	quoted: ldb [x+17]       ; protocol of the quoted header
//	jeq   #4, accept
//	ret   #0
//	accept: ret #65535
func Filter() []bpf.Instruction {
	return []bpf.Instruction{
		bpf.LoadMemShift{Off: 0},
		bpf.LoadIndirect{Off: offType, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: TypeDestUnreach, SkipTrue: 3},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: TypeRedirect, SkipTrue: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: TypeTimeExceeded, SkipTrue: 1},
		bpf.RetConstant{Val: filterDrop},
		bpf.LoadIndirect{Off: offQuotedProto, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: header.ProtocolIPIP, SkipFalse: 1},
		bpf.RetConstant{Val: filterAcceptSize},
		bpf.RetConstant{Val: filterDrop},
	}
}

// attachFilter assembles Filter and attaches it to the socket fd.
func attachFilter(fd int) error {
	raw, err := bpf.Assemble(Filter())
	if err != nil {
		return fmt.Errorf("assembling the ICMP filter: %w", err)
	}
	prog := make([]unix.SockFilter, len(raw))
	for i, ins := range raw {
		prog[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return fmt.Errorf("attaching the ICMP filter (SO_ATTACH_FILTER): %w", err)
	}
	return nil
}
