package engine

import (
	"net/netip"
	"testing"
)

// A reload keeps the underlay MTU a running tunnel was set up with while its
// remote and dev stay, as the kernel works it out only when a tunnel is made
// or its link changes; a new remote, a new dev or a new tunnel asks again.
func TestReloadKeepsTheUnderlayOfAnUnchangedTunnel(t *testing.T) {
	e, _, _ := newTestEngine(t, twoTunnelsYAML)
	st := e.state.Load()
	e.runtimes = map[string]*runtime{}
	for i := range st.tunnels {
		st.tunnels[i].pathMTU = 1400 + i
		e.runtimes[st.tunnels[i].config.Name] = st.tunnels[i].rt
	}
	same := st.tunnels[0].config
	if mtu, ok := e.setUpUnderlay(same); !ok || mtu != 1400 {
		t.Errorf("unchanged tunnel: %d, %v; want its 1400", mtu, ok)
	}
	moved := same
	moved.Remote = netip.MustParseAddr("10.245.1.9")
	bound := same
	bound.Dev = "eth9"
	fresh := same
	fresh.Name = "p2pc"
	if _, ok := e.setUpUnderlay(moved); ok {
		t.Error("a tunnel with a new remote kept its old underlay MTU")
	}
	if _, ok := e.setUpUnderlay(bound); ok {
		t.Error("a tunnel bound to a new dev kept its old underlay MTU")
	}
	if _, ok := e.setUpUnderlay(fresh); ok {
		t.Error("a new tunnel got another's underlay MTU")
	}
}
