// Package lab is the one toolkit that ipipd's end-to-end tests, `ipipd
// demo` (internal/demo) and the benchmark (bench/cmd/ipipbench) build
// their network labs with:
//
//   - namespaces (netns.go): named after the process that made them, so a
//     later run can tell one a dead process left (Stale, CleanupStale) from
//     one still in use; created with lo up and IPv6 off; removed with every
//     process left inside; entered from Go with Do;
//   - links (link.go): veth pairs and bridged LANs made inside the
//     namespaces, never in the host's, returned only once they run;
//   - bounded commands (command.go): every command has a deadline, and a
//     grandchild holding its output cannot hold the caller;
//   - processes (process.go, ready.go): a long-running command in a
//     namespace, waited for until ready, stopped with SIGTERM then SIGKILL;
//   - ipipd itself (ipipd.go): building the binary, its command line, and
//     `show`, which answers once the daemon is set up; and a config of many
//     tunnels and routes (many_tunnels.go);
//   - a thin layer for tests (testing.go) that fails the test instead of
//     returning errors, deletes what it made in t.Cleanup even when the
//     test fails, and skips loudly when not root, or fails when
//     IPIPD_E2E_REQUIRED=1 (CI).
//
// Nothing here imports package testing: the demo is part of the ipipd
// binary. The test layer takes T, which *testing.T and *testing.B satisfy.
package lab
