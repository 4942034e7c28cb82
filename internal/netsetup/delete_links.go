package netsetup

import (
	"fmt"
	"math/rand/v2"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// LinkRef names a device by index and the name it is expected to have.
type LinkRef struct {
	Index int
	Name  string
}

// DeleteLinks deletes the devices links, in one request, in the calling
// thread's network namespace: it puts them in a device group of their own
// and deletes the group (`ip link set dev D group G` for each, then `ip link
// del group G`). It returns the devices it left alone: those whose index
// the kernel now gives to another name (deleted and the number reused),
// for the caller to delete one by one as before.
//
// Deleted one by one, as closing each TUN descriptor does, every device
// costs the kernel its own RCU grace periods under the RTNL lock (about 34
// a second measured here, 88 s for 3 000); a group goes through
// unregister_netdevice_many, which waits once for all of them. The
// addresses and routes on the devices go with them (delete the routes
// first: see DeleteRoutes).
//
// The group number is drawn at random among those no device has in a dump
// read first, which also checks each device's name.
func DeleteLinks(links []LinkRef) (skipped []LinkRef, err error) {
	if len(links) == 0 {
		return nil, nil
	}
	h := rtnl()
	all, err := h.LinkList()
	if err != nil {
		return links, fmt.Errorf("listing devices: %w", err)
	}
	names := make(map[int]string, len(all))
	groups := map[uint32]bool{}
	for _, l := range all {
		a := l.Attrs()
		names[a.Index] = a.Name
		groups[a.Group] = true
	}
	// Groups 0 to 255 have names in /etc/iproute2/group; stay far above.
	group := uint32(1<<24 + rand.IntN(1<<30))
	for groups[group] {
		group = uint32(1<<24 + rand.IntN(1<<30))
	}
	var joined int
	for _, l := range links {
		if names[l.Index] != l.Name {
			skipped = append(skipped, l)
			continue
		}
		if err := h.LinkSetGroup(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Index: l.Index}}, int(group)); err != nil {
			// Left in the group if it joined: deleting the group still
			// deletes those that did.
			skipped = append(skipped, l)
			continue
		}
		joined++
	}
	if joined == 0 {
		return skipped, nil
	}
	return skipped, deleteGroup(group)
}

// deleteGroup is `ip link del group G`: RTM_DELLINK with no index and
// IFLA_GROUP, which rtnl_group_dellink answers.
func deleteGroup(group uint32) error {
	req := nl.NewNetlinkRequest(unix.RTM_DELLINK, unix.NLM_F_ACK)
	req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
	req.AddData(nl.NewRtAttr(unix.IFLA_GROUP, nl.Uint32Attr(group)))
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil {
		return fmt.Errorf("deleting device group %d: %w", group, err)
	}
	return nil
}
