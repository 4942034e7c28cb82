// Package engine runs ipipd's datapath: one transmit loop per tunnel (TUN →
// route lookup → encap → raw socket) and one receive loop (raw socket →
// decap → the tunnel's TUN), over tables published as one immutable state
// with atomic.Pointer. It owns the tunnels' TUN devices and their kernel
// set-up, and swaps the whole state on reload without stopping traffic.
//
// The per-packet work is in the pure packages encap, decap and lookup; this
// package moves batches between devices and those functions, and counts
// every packet's verdict.
package engine
