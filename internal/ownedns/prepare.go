package ownedns

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// DisableIPv6 turns IPv6 off in the calling thread's network namespace
// (the files under /proc/sys/net belong to the namespace of the thread
// that opens them): ipipd's underlay is IPv4, and IPv6 router and listener
// solicitations would only add noise to captures and counters. A kernel
// without IPv6 has nothing to disable.
func DisableIPv6() error {
	for _, p := range []string{
		"/proc/sys/net/ipv6/conf/all/disable_ipv6",
		"/proc/sys/net/ipv6/conf/default/disable_ipv6",
	} {
		err := os.WriteFile(p, []byte("1"), 0)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("disabling IPv6 (%s): %w", p, err)
		}
	}
	return nil
}

// FarIndex returns a random interface index far above the small ones the
// kernel hands out in order, for the side of a veth pair created locally,
// so the two ends never share an index. When they do (both are the first
// veth of a fresh namespace, index 2) the kernel treats their carrier
// change as not urgent (linkwatch_urgent_event) and applies it up to a
// second later, and the first packets sent meanwhile are dropped. A set
// index does not move the namespace's counter for later automatic ones.
func FarIndex() string {
	return strconv.Itoa(100000 + rand.IntN(1<<24))
}

// WaitRunning waits, in the calling thread's network namespace, until
// every named link is operational (IFF_RUNNING), for at most timeout or
// until ctx ends.
//
// Why: a link set up is not yet usable. Its qdisc stays the dropping noop
// qdisc until the kernel's linkwatch work sees the carrier (linkwatch_do_dev
// → dev_activate), and a packet sent meanwhile (the first ARP request) is
// lost, the sender's retry coming a second later. See FarIndex.
func WaitRunning(ctx context.Context, timeout time.Duration, links ...string) error {
	deadline := time.Now().Add(timeout)
	for {
		var down []string
		for _, name := range links {
			ifi, err := net.InterfaceByName(name)
			if err != nil {
				return fmt.Errorf("link %s: %w", name, err)
			}
			if ifi.Flags&net.FlagRunning == 0 {
				down = append(down, name)
			}
		}
		if len(down) == 0 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("links %s not running after %v", strings.Join(down, ", "), timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
