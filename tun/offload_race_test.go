//go:build race

package tun

// raceEnabled: the race detector's instrumentation turns wireguard's
// append(buf, make([]byte, n)...), which grows a coalesced packet in place,
// into an allocation, so zero-allocation checks of GRO do not hold under it.
const raceEnabled = true
