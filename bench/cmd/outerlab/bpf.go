package outerlab

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A hand-assembled eBPF program (no compiler on this machine), attached to
// a device's egress with tcx, that turns every IPv4 protocol-4 frame into
// what the kernel's own ipip module hands the device: an skb marked as
// IPv4-in-IPv4 encapsulation. A TCP super-packet written with a
// virtio-net header (gso_type TCPV4) then carries SKB_GSO_IPXIP4, which
// ipip_gso_segment requires, and is passed whole to a device with
// tx-ipxip4-segmentation, or segmented in software before one without.
//
// It keeps the 20-byte outer header the sender wrote:
//
//	load the outer header onto the stack;
//	bpf_skb_adjust_room(-20, MAC, FIXED_GSO)          drop it: the inner header becomes the network header
//	bpf_skb_adjust_room(+20, MAC, FIXED_GSO|ENCAP_L3_IPV4)   room for an outer header, skb->encapsulation = 1, gso_type |= SKB_GSO_IPXIP4
//	store the outer header back.

type insn [8]byte

func ins(code, dst, src uint8, off int16, imm int32) insn {
	var i insn
	i[0] = code
	i[1] = dst | src<<4
	binary.LittleEndian.PutUint16(i[2:], uint16(off))
	binary.LittleEndian.PutUint32(i[4:], uint32(imm))
	return i
}

const (
	opMovReg  = 0xbf // r_dst = r_src (64-bit)
	opMovImm  = 0xb7
	opAddImm  = 0x07
	opLdxB    = 0x71
	opJneImm  = 0x55
	opCall    = 0x85
	opExit    = 0x95
	fnStore   = 9  // bpf_skb_store_bytes
	fnLoad    = 26 // bpf_skb_load_bytes
	fnAdjRoom = 50 // bpf_skb_adjust_room
	tcActOK   = 0
	tcActShot = 2
)

func ipipMarkProgram() []insn {
	const r0, r1, r2, r3, r4, r5, r6, r10 = 0, 1, 2, 3, 4, 5, 6, 10
	p := []insn{
		ins(opMovReg, r6, r1, 0, 0),
		// protocol byte (14+9) == 4?
		ins(opMovReg, r1, r6, 0, 0), ins(opMovImm, r2, 0, 0, 23), ins(opMovReg, r3, r10, 0, 0),
		ins(opAddImm, r3, 0, 0, -8), ins(opMovImm, r4, 0, 0, 1), ins(opCall, 0, 0, 0, fnLoad),
		ins(opJneImm, r0, 0, 0, 0), // 7 → out
		ins(opLdxB, r0, r10, -8, 0),
		ins(opJneImm, r0, 0, 0, 4), // 9 → out
		// save the outer header
		ins(opMovReg, r1, r6, 0, 0), ins(opMovImm, r2, 0, 0, 14), ins(opMovReg, r3, r10, 0, 0),
		ins(opAddImm, r3, 0, 0, -32), ins(opMovImm, r4, 0, 0, 20), ins(opCall, 0, 0, 0, fnLoad),
		ins(opJneImm, r0, 0, 0, 0), // 16 → out
		ins(opMovReg, r1, r6, 0, 0), ins(opMovImm, r2, 0, 0, -20), ins(opMovImm, r3, 0, 0, unix.BPF_ADJ_ROOM_MAC),
		ins(opMovImm, r4, 0, 0, unix.BPF_F_ADJ_ROOM_FIXED_GSO), ins(opCall, 0, 0, 0, fnAdjRoom),
		ins(opJneImm, r0, 0, 0, 0), // 22 → fail
		ins(opMovReg, r1, r6, 0, 0), ins(opMovImm, r2, 0, 0, 20), ins(opMovImm, r3, 0, 0, unix.BPF_ADJ_ROOM_MAC),
		ins(opMovImm, r4, 0, 0, unix.BPF_F_ADJ_ROOM_FIXED_GSO|unix.BPF_F_ADJ_ROOM_ENCAP_L3_IPV4), ins(opCall, 0, 0, 0, fnAdjRoom),
		ins(opJneImm, r0, 0, 0, 0), // 28 → fail
		ins(opMovReg, r1, r6, 0, 0), ins(opMovImm, r2, 0, 0, 14), ins(opMovReg, r3, r10, 0, 0),
		ins(opAddImm, r3, 0, 0, -32), ins(opMovImm, r4, 0, 0, 20), ins(opMovImm, r5, 0, 0, 0),
		ins(opCall, 0, 0, 0, fnStore),
		ins(opJneImm, r0, 0, 0, 0),                                // 36 → fail
		ins(opMovImm, r0, 0, 0, tcActOK), ins(opExit, 0, 0, 0, 0), // 37 out
		ins(opMovImm, r0, 0, 0, tcActShot), ins(opExit, 0, 0, 0, 0), // 39 fail
	}
	jump := func(at, to int) { binary.LittleEndian.PutUint16(p[at][2:], uint16(to-at-1)) }
	jump(7, 37)
	jump(9, 37)
	jump(16, 37)
	jump(22, 39)
	jump(28, 39)
	jump(36, 39)
	return p
}

// AttachIPIPMark loads the program and attaches it to ifindex's egress
// with a tcx link, in the calling thread's namespace. Closing the
// returned descriptor detaches it.
func AttachIPIPMark(ifindex int) (linkFD int, err error) {
	return attach(ipipMarkProgram(), ifindex, unix.BPF_TCX_EGRESS)
}

// AttachProto4Drop attaches to ifindex's ingress (tcx) a program that
// drops every IPv4 protocol-4 frame: they never reach IP input. Packet
// sockets bound with ETH_P_ALL see frames before tc ingress does, so a
// ring bound that way still gets them.
func AttachProto4Drop(ifindex int) (linkFD int, err error) {
	const r0, r1, r2, r3, r4, r6, r10 = 0, 1, 2, 3, 4, 6, 10
	p := []insn{
		ins(opMovReg, r6, r1, 0, 0),
		ins(opMovReg, r1, r6, 0, 0), ins(opMovImm, r2, 0, 0, 23), ins(opMovReg, r3, r10, 0, 0),
		ins(opAddImm, r3, 0, 0, -8), ins(opMovImm, r4, 0, 0, 1), ins(opCall, 0, 0, 0, fnLoad),
		ins(opJneImm, r0, 0, 3, 0), // → ok
		ins(opLdxB, r0, r10, -8, 0),
		ins(opJneImm, r0, 0, 1, 4),         // → ok
		ins(opMovImm, r0, 0, 0, tcActShot), // drop: falls into the exit below via the jump
		ins(0x05, 0, 0, 1, 0),              // ja +1
		ins(opMovImm, r0, 0, 0, tcActOK),
		ins(opExit, 0, 0, 0, 0),
	}
	// Fix the jumps: 7 → 12 (ok), 9 → 12 (ok).
	binary.LittleEndian.PutUint16(p[7][2:], uint16(12-7-1))
	binary.LittleEndian.PutUint16(p[9][2:], uint16(12-9-1))
	return attach(p, ifindex, unix.BPF_TCX_INGRESS)
}

func attach(prog []insn, ifindex int, attachType uint32) (linkFD int, err error) {
	license := []byte("GPL\x00")
	logBuf := make([]byte, 1<<16)
	var attr [128]byte
	binary.LittleEndian.PutUint32(attr[0:], unix.BPF_PROG_TYPE_SCHED_CLS)
	binary.LittleEndian.PutUint32(attr[4:], uint32(len(prog)))
	binary.LittleEndian.PutUint64(attr[8:], uint64(uintptr(unsafe.Pointer(&prog[0]))))
	binary.LittleEndian.PutUint64(attr[16:], uint64(uintptr(unsafe.Pointer(&license[0]))))
	binary.LittleEndian.PutUint32(attr[24:], 1)
	binary.LittleEndian.PutUint32(attr[28:], uint32(len(logBuf)))
	binary.LittleEndian.PutUint64(attr[32:], uint64(uintptr(unsafe.Pointer(&logBuf[0]))))
	copy(attr[48:64], "ipip_gso_mark")
	fd, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, uintptr(unsafe.Pointer(&attr[0])), uintptr(len(attr)))
	if errno != 0 {
		n := 0
		for n < len(logBuf) && logBuf[n] != 0 {
			n++
		}
		return -1, fmt.Errorf("BPF_PROG_LOAD: %v: %s", errno, logBuf[:n])
	}
	var la [64]byte
	binary.LittleEndian.PutUint32(la[0:], uint32(fd))
	binary.LittleEndian.PutUint32(la[4:], uint32(ifindex))
	binary.LittleEndian.PutUint32(la[8:], attachType)
	lfd, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_LINK_CREATE, uintptr(unsafe.Pointer(&la[0])), uintptr(len(la)))
	unix.Close(int(fd))
	if errno != 0 {
		return -1, fmt.Errorf("BPF_LINK_CREATE tcx: %v", errno)
	}
	return int(lfd), nil
}
