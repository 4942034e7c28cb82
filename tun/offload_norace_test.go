//go:build !race

package tun

// raceEnabled: see offload_race_test.go.
const raceEnabled = false
