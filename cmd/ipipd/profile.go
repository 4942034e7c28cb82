package main

import (
	"os"
	"runtime/pprof"
)

// startCPUProfile profiles the daemon until the returned stop is called at
// exit: the per-packet cost under real traffic, for `go tool pprof`.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
