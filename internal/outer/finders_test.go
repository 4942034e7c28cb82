package outer

import (
	"testing"

	"github.com/ipipd/ipipd/internal/lab"
)

// Every tunnel's packet socket with the same dev binding shares one
// PathFinder: one set of netlink sockets and subscriptions per Bind, not
// per tunnel; it is closed when its last Sender is.
func TestOnePathFinderPerDev(t *testing.T) {
	lab.Require(t)
	ns := lab.New(t, "finders")
	err := ns.Do(func() error {
		e := &Bind{finders: map[string]*sharedFinder{}}
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
		// The last release closes it; the next use opens a fresh one.
		e.releasePathFinder("")
		if _, ok := e.finders[""]; !ok {
			t.Error("the PathFinder closed while a Sender still used it")
		}
		e.releasePathFinder("")
		if _, ok := e.finders[""]; ok {
			t.Error("the PathFinder outlived its last Sender")
		}
		fresh, err := e.pathFinder("")
		if err != nil {
			return err
		}
		if fresh == unbound {
			t.Error("a closed PathFinder was handed out again")
		}
		e.releasePathFinder("")
		e.releasePathFinder("lo")
		if len(e.finders) != 0 {
			t.Errorf("%d PathFinders left after every release", len(e.finders))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
