package kernelview

import "testing"

// A down and up in quick succession: the View says the device went down
// (Downs), though it is up again, and Fresh reads the kernel at once.
func TestWatcherCountsDownsAndReadsFresh(t *testing.T) {
	w, index, views := watch(t, "tunl0")
	ip(t, "route", "add", "192.168.42.0/24", "via", "10.245.1.3", "dev", "tunl0", "onlink")
	await(t, views, "the route", func(v *View) bool { return len(v.Routes[index]) == 1 })
	ip(t, "link", "set", "tunl0", "down")
	ip(t, "link", "set", "tunl0", "up")
	v := w.Fresh()
	if v == nil {
		t.Fatal("Fresh returned no View")
	}
	if l := v.Links[index]; !l.Up || len(v.Routes[index]) != 0 {
		t.Errorf("Fresh after down and up: link %+v, %d routes; want up, the routes flushed", l, len(v.Routes[index]))
	}
	// Fresh may have read before the notifications came; they still tell
	// the down.
	await(t, views, "Downs 1", func(v *View) bool { return v.Links[index].Downs == 1 && v.Links[index].Up })
	w.Close()
	if w.Fresh() != nil {
		t.Error("Fresh after Close returned a View")
	}
}
