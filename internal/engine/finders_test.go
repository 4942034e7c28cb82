package engine

import (
	"testing"

	"github.com/ipipd/ipipd/internal/testnet"
)

// Every tunnel's packet socket with the same dev binding shares one
// PathFinder: one set of netlink sockets and subscriptions per engine, not
// per tunnel.
func TestOnePathFinderPerDev(t *testing.T) {
	testnet.Require(t)
	ns := testnet.New(t, "finders")
	err := ns.Do(func() error {
		e := &Engine{}
		unbound, err := e.pathFinder("")
		if err != nil {
			return err
		}
		again, err := e.pathFinder("")
		if err != nil {
			return err
		}
		bound, err := e.pathFinder("lo")
		if err != nil {
			return err
		}
		if again != unbound {
			t.Error("a second tunnel without dev got a PathFinder of its own")
		}
		if bound == unbound {
			t.Error("a tunnel bound to lo shares the unbound tunnels' PathFinder: its routes must be looked up with oif lo")
		}
		if _, err := e.pathFinder("nosuchdev"); err == nil {
			t.Error("a PathFinder for a missing device was opened")
		}
		for _, f := range e.finders {
			f.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
