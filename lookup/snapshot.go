package lookup

// Snapshot is one immutable generation of both tables. The daemon builds a
// new one on every (re)load and publishes it with atomic.Pointer[Snapshot];
// a worker loads the pointer once per batch and never sees a half-built table.
type Snapshot struct {
	Tunnels *TunnelTable
	Routes  *RouteTable
}

// NewSnapshot builds both tables; it fails on what either refuses.
func NewSnapshot(tunnels []Tunnel, routes []Route) (*Snapshot, error) {
	tt, err := NewTunnelTable(tunnels)
	if err != nil {
		return nil, err
	}
	rt, err := NewRouteTable(routes, tunnels)
	if err != nil {
		return nil, err
	}
	return &Snapshot{Tunnels: tt, Routes: rt}, nil
}
