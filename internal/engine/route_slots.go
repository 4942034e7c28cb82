package engine

// Route slots. The route table's next hops name their tunnel by a number;
// were it the tunnel's place in the config, removing or inserting one
// tunnel would renumber every tunnel after it, and the table of 100 000
// routes would be rebuilt (86-277 ms of such a reload at 10 000 tunnels)
// where a few prefixes changed. A slot is a runtime's number for its
// life: the lowest free one when it is made, free again once it is gone.

// routeSlots hands out slots; used with Engine.mu held.
type routeSlots struct {
	free []int // freed slots, reused lowest last-freed first
	next int   // the lowest slot never handed out
}

// take returns a free slot.
func (s *routeSlots) take() int {
	if n := len(s.free); n > 0 {
		slot := s.free[n-1]
		s.free = s.free[:n-1]
		return slot
	}
	s.next++
	return s.next - 1
}

// give frees slot.
func (s *routeSlots) give(slot int) {
	s.free = append(s.free, slot)
}
