package main

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// What the XDP program does with an IPv4 protocol-4 frame for the node's
// address; every other frame passes.
type xdpAction int

const (
	xdpRedirect xdpAction = iota // to the AF_XDP socket of its rx queue (XSKMAP), XDP_PASS if none
	xdpDrop                      // XDP_DROP: a baseline with veth's XDP path on and no reader
	xdpPassAll                   // XDP_PASS for everything: only what attaching a program does to veth
)

const (
	retDrop = 1 // XDP_DROP
	retPass = 2 // XDP_PASS
)

// xdpProgram assembles the program. xdp_md: data at 0, data_end at 4,
// rx_queue_index at 16.
func xdpProgram(action xdpAction, dst netip.Addr, xskmap *ebpf.Map) asm.Instructions {
	if action == xdpPassAll {
		return asm.Instructions{asm.Mov.Imm(asm.R0, retPass), asm.Return()}
	}
	d := dst.As4()
	p := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word),  // data
		asm.LoadMem(asm.R3, asm.R1, 4, asm.Word),  // data_end
		asm.LoadMem(asm.R6, asm.R1, 16, asm.Word), // rx_queue_index
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, 14+20),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		asm.LoadMem(asm.R5, asm.R2, 12, asm.Half), // ethertype, network order
		asm.JNE.Imm(asm.R5, int32(binary.LittleEndian.Uint16([]byte{0x08, 0x00})), "pass"),
		asm.LoadMem(asm.R5, asm.R2, 14+9, asm.Byte), // protocol
		asm.JNE.Imm(asm.R5, 4, "pass"),
		asm.LoadMem(asm.R5, asm.R2, 14+16, asm.Word), // destination
		asm.JNE.Imm32(asm.R5, int32(binary.LittleEndian.Uint32(d[:])), "pass"),
	}
	switch action {
	case xdpRedirect:
		p = append(p,
			asm.LoadMapPtr(asm.R1, xskmap.FD()),
			asm.Mov.Reg(asm.R2, asm.R6),
			asm.Mov.Imm(asm.R3, retPass), // what bpf_redirect_map returns when the queue has no socket
			asm.FnRedirectMap.Call(),
			asm.Return())
	case xdpDrop:
		p = append(p, asm.Mov.Imm(asm.R0, retDrop), asm.Return())
	}
	return append(p, asm.Mov.Imm(asm.R0, retPass).WithSymbol("pass"), asm.Return())
}

// XDP is an attached program (and its XSKMAP for xdpRedirect).
type XDP struct {
	Map  *ebpf.Map
	prog *ebpf.Program
	link link.Link
}

// AttachXDP loads the program and attaches it in driver (native) mode to
// ifindex in the calling thread's namespace (veth has native XDP).
func AttachXDP(ifindex int, action xdpAction, dst netip.Addr) (*XDP, error) {
	x := &XDP{}
	var err error
	if action == xdpRedirect {
		x.Map, err = ebpf.NewMap(&ebpf.MapSpec{Name: "xsks", Type: ebpf.XSKMap, KeySize: 4, ValueSize: 4, MaxEntries: 64})
		if err != nil {
			return nil, fmt.Errorf("XSKMAP: %w", err)
		}
	}
	x.prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{Name: "ipip_xsk", Type: ebpf.XDP, License: "GPL",
		Instructions: xdpProgram(action, dst, x.Map)})
	if err != nil {
		x.Close()
		return nil, fmt.Errorf("loading the XDP program: %w", err)
	}
	x.link, err = link.AttachXDP(link.XDPOptions{Program: x.prog, Interface: ifindex, Flags: link.XDPDriverMode})
	if err != nil {
		x.Close()
		return nil, fmt.Errorf("attaching XDP (driver mode): %w", err)
	}
	return x, nil
}

// Close detaches and frees.
func (x *XDP) Close() {
	if x.link != nil {
		x.link.Close()
	}
	if x.prog != nil {
		x.prog.Close()
	}
	if x.Map != nil {
		x.Map.Close()
	}
}
