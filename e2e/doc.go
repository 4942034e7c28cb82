// Package e2e holds ipipd's end-to-end tests: the built binary runs as a
// daemon inside throw-away network namespaces (internal/lab), with real
// TUN devices, raw sockets and a bridged underlay, and the tests check on
// the wire, through the kernel's own stack and through `ipipd show --json`
// that it behaves as the kernel's ipip module would.
//
// Every test needs root; without it the tests skip, unless
// IPIPD_E2E_REQUIRED=1 (CI), which turns the skip into a failure.
// Traffic stays inside the namespaces the tests create: the underlay is
// 10.245.1.0/24, the tunnel addresses 192.168.41.0, .42.0 and .43.0.
//
// Run: go test ./e2e/ (as root). The binary is built once by TestMain.
package e2e
