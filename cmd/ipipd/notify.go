package main

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/ipipd/ipipd/internal/engine"
	"github.com/ipipd/ipipd/internal/sdnotify"
)

// What `ipipd run` tells systemd when it runs as a Type=notify service
// (contrib/ipipd.service); without NOTIFY_SOCKET these do nothing. A
// failure to tell (a socket gone, a malformed NOTIFY_SOCKET) is logged,
// never fatal: the tunnels matter more than systemd's view of them.

// notifyReady sends READY=1 once the devices, addresses, routes and sockets
// are up, and again when a reload has ended, with the running tunnels and,
// when the reload was refused, why (the running config stays, and
// systemctl status should not look as if the new file were in place).
func notifyReady(log *slog.Logger, eng *engine.Engine, refused string) {
	status := serviceStatus(eng.TunnelNames())
	if refused != "" {
		status += "; reload refused, running the previous config: " + refused
	}
	warnNotify(log, sdnotify.Ready(status))
}

// notifyReloading sends RELOADING=1 as a SIGHUP reload begins.
func notifyReloading(log *slog.Logger, path string) {
	warnNotify(log, sdnotify.Reloading("reloading "+path))
}

// notifyStopping sends STOPPING=1 as the daemon begins to remove what it
// created.
func notifyStopping(log *slog.Logger) {
	warnNotify(log, sdnotify.Stopping("stopping: removing the tunnels' devices, addresses and routes"))
}

func warnNotify(log *slog.Logger, err error) {
	if err != nil {
		log.Warn("cannot tell systemd", "err", err)
	}
}

// maxStatusTunnels bounds the names in the status line: it is one line of
// systemctl status, not a listing (ipipd show is).
const maxStatusTunnels = 8

// serviceStatus is the STATUS= line: the state and the running tunnels.
func serviceStatus(tunnels []string) string {
	names := make([]string, 0, maxStatusTunnels)
	for i, name := range tunnels {
		if i == maxStatusTunnels {
			names = append(names, fmt.Sprintf("and %d more", len(tunnels)-i))
			break
		}
		names = append(names, name)
	}
	switch len(tunnels) {
	case 0:
		return "running, no tunnels"
	case 1:
		return "running, 1 tunnel: " + names[0]
	}
	return fmt.Sprintf("running, %d tunnels: %s", len(tunnels), strings.Join(names, ", "))
}
