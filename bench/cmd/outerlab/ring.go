package outerlab

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Ring is an AF_PACKET TPACKET_V3 receive ring: the kernel fills blocks
// of packets and wakes the reader once per block (full, or retired after
// its timeout), not once per packet.
type Ring struct {
	FD        int
	mem       []byte
	blockSize int
	blocks    int
	next      int
}

// RingOptions configure OpenRing.
type RingOptions struct {
	Dev       string
	AllProto  bool       // bind ETH_P_ALL (seen before tc ingress) instead of ETH_P_IP
	Dst       netip.Addr // the classic BPF filter's destination: protocol 4 to Dst only
	BlockSize int        // bytes per block; a frame of up to 64 KiB must fit
	Blocks    int
	TimeoutMs int // block retire timeout
	Fanout    int // >0: join this PACKET_FANOUT group (hash)
}

// OpenRing opens the socket, attaches the filter, maps the ring and binds.
func OpenRing(o RingOptions) (*Ring, error) {
	proto := uint16(unix.ETH_P_IP)
	if o.AllProto {
		proto = unix.ETH_P_ALL
	}
	idx, err := Ifindex(o.Dev)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(Htons(proto)))
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Ring, error) { unix.Close(fd); return nil, err }
	d := o.Dst.As4()
	dst := binary.BigEndian.Uint32(d[:])
	filter := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_H | unix.BPF_ABS, K: 12},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 5, K: unix.ETH_P_IP},
		{Code: unix.BPF_LD | unix.BPF_B | unix.BPF_ABS, K: 23},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 3, K: 4},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 30},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: dst},
		{Code: unix.BPF_RET | unix.BPF_K, K: 0x40000},
		{Code: unix.BPF_RET | unix.BPF_K, K: 0},
	}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}); err != nil {
		return fail(fmt.Errorf("SO_ATTACH_FILTER: %w", err))
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return fail(err)
	}
	req := unix.TpacketReq3{Block_size: uint32(o.BlockSize), Block_nr: uint32(o.Blocks),
		Frame_size: uint32(o.BlockSize), Frame_nr: uint32(o.Blocks), Retire_blk_tov: uint32(o.TimeoutMs)}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fail(fmt.Errorf("PACKET_RX_RING: %w", err))
	}
	mem, err := unix.Mmap(fd, 0, o.BlockSize*o.Blocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_LOCKED)
	if err != nil {
		return fail(fmt.Errorf("mmap: %w", err))
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: Htons(proto), Ifindex: idx}); err != nil {
		unix.Munmap(mem)
		return fail(err)
	}
	if o.Fanout > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT, o.Fanout|unix.PACKET_FANOUT_HASH<<16); err != nil {
			unix.Munmap(mem)
			return fail(fmt.Errorf("PACKET_FANOUT: %w", err))
		}
	}
	return &Ring{FD: fd, mem: mem, blockSize: o.BlockSize, blocks: o.Blocks}, nil
}

// Packet is one packet of a block, its tpacket3_hdr fields.
type Packet struct {
	Data   []byte // from the MAC header, tp_snaplen bytes
	Len    int    // tp_len: the packet's length on the wire
	Status uint32 // tp_status: TP_STATUS_CSUMNOTREADY, TP_STATUS_CSUM_VALID, …
	RxHash uint32
}

// Next waits up to timeoutMs for the next block, calls fn for each of its
// packets, gives the block back, and returns how many it had; 0 if none
// came. wakeups counts the polls that slept.
func (r *Ring) Next(timeoutMs int, fn func(Packet), wakeups *int64) int {
	blk := r.mem[r.next*r.blockSize : (r.next+1)*r.blockSize]
	status := (*uint32)(unsafe.Pointer(&blk[8]))
	if *status&unix.TP_STATUS_USER == 0 {
		pfd := []unix.PollFd{{Fd: int32(r.FD), Events: unix.POLLIN | unix.POLLERR}}
		unix.Poll(pfd, timeoutMs)
		if wakeups != nil {
			*wakeups++
		}
		if *status&unix.TP_STATUS_USER == 0 {
			return 0
		}
	}
	n := int(binary.LittleEndian.Uint32(blk[12:]))
	off := int(binary.LittleEndian.Uint32(blk[16:]))
	for i := 0; i < n; i++ {
		h := blk[off:]
		snap := int(binary.LittleEndian.Uint32(h[12:]))
		mac := int(binary.LittleEndian.Uint16(h[24:]))
		fn(Packet{Data: h[mac : mac+snap], Len: int(binary.LittleEndian.Uint32(h[16:])),
			Status: binary.LittleEndian.Uint32(h[20:]), RxHash: binary.LittleEndian.Uint32(h[28:])})
		off += int(binary.LittleEndian.Uint32(h[0:]))
	}
	*status = unix.TP_STATUS_KERNEL
	r.next = (r.next + 1) % r.blocks
	return n
}

// Stats returns and resets the socket's counters (PACKET_STATISTICS).
func (r *Ring) Stats() (packets, drops uint32) {
	s, err := unix.GetsockoptTpacketStatsV3(r.FD, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return 0, 0
	}
	return s.Packets, s.Drops
}

// Close unmaps and closes.
func (r *Ring) Close() {
	unix.Munmap(r.mem)
	unix.Close(r.FD)
}

// DropAll attaches a classic BPF filter that accepts nothing: the socket
// stays (so IP input finds a raw socket for the protocol and sends no ICMP
// protocol unreachable) but queues nothing.
func DropAll(fd int) error {
	f := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: 0}}
	return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: 1, Filter: &f[0]})
}
