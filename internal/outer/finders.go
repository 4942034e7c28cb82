package outer

import "github.com/ipipd/ipipd/internal/packetsock"

// sharedFinder is a PathFinder and how many Senders use it.
type sharedFinder struct {
	finder *packetsock.PathFinder
	users  int
}

// pathFinder returns the Bind's PathFinder for route lookups bound to dev,
// opening it on first use: however many tunnels send, the Bind keeps one
// set of netlink sockets and subscriptions per binding. Each call is one
// use, ended by releasePathFinder.
func (b *Bind) pathFinder(dev string) (*packetsock.PathFinder, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s, ok := b.finders[dev]; ok {
		s.users++
		return s.finder, nil
	}
	f, err := packetsock.NewPathFinder(packetsock.FinderOptions{Dev: dev})
	if err != nil {
		return nil, err
	}
	b.finders[dev] = &sharedFinder{finder: f, users: 1}
	return f, nil
}

// releasePathFinder ends one use of dev's PathFinder and closes it after
// the last: a reload that removes every tunnel bound to a device leaves no
// resolver behind, and one that brings them back opens a fresh one.
func (b *Bind) releasePathFinder(dev string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.finders[dev]
	if !ok {
		return
	}
	if s.users--; s.users == 0 {
		s.finder.Close()
		delete(b.finders, dev)
	}
}
