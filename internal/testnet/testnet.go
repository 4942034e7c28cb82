// Package testnet forwards to internal/lab, where the namespaces, links
// and test gate of ipipd's end-to-end tests now live; it stays only for
// the tests not moved to lab yet. New code uses lab.
package testnet

import (
	"net/netip"
	"testing"

	"github.com/ipipd/ipipd/internal/lab"
)

// Forwarded names: see lab.
const (
	RequiredEnv = lab.RequiredEnv
	Prefix      = lab.TestPrefix
	StopTimeout = lab.StopTimeout
)

type (
	NS           = lab.NS
	Process      = lab.Process
	LockedBuffer = lab.LockedBuffer
)

// Require is lab.Require.
func Require(t testing.TB) {
	t.Helper()
	lab.Require(t)
}

// EnterFresh is lab.EnterFresh.
func EnterFresh(t testing.TB) {
	t.Helper()
	lab.EnterFresh(t)
}

// New is lab.New.
func New(t testing.TB, label string) *NS {
	t.Helper()
	return lab.New(t, label)
}

// Veth is lab.Veth.
func Veth(t testing.TB, a *NS, aName string, aAddr netip.Prefix, b *NS, bName string, bAddr netip.Prefix) {
	t.Helper()
	lab.Veth(t, a, aName, aAddr, b, bName, bAddr)
}

// NewBridgeLAN is lab.NewBridgeLAN.
func NewBridgeLAN(t testing.TB, hub *NS, subnet netip.Prefix, members ...*NS) []netip.Addr {
	t.Helper()
	return lab.NewBridgeLAN(t, hub, subnet, members...)
}

// CleanupStale is lab.CleanupStale of the test layer's namespaces.
func CleanupStale() error {
	_, err := lab.CleanupStale(lab.TestPrefix)
	return err
}
