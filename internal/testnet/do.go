package testnet

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// Do runs fn on an OS thread switched into the namespace and returns fn's
// error. Sockets fn opens belong to the namespace for their whole life, so a
// test can open raw sockets here and use them from any goroutine afterwards.
// Goroutines fn starts do not inherit the namespace.
//
// fn runs on a fresh goroutine locked to its thread; afterwards the thread is
// switched back and unlocked. If switching back fails the thread stays locked
// and is destroyed when the goroutine ends, so no thread in the wrong
// namespace ever returns to the Go scheduler. A panic in fn is re-raised in
// the caller.
func (ns *NS) Do(fn func() error) error {
	type result struct {
		err   error
		panic any
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		var res result
		defer func() { done <- res }()
		orig, err := netns.Get()
		if err != nil {
			res.err = fmt.Errorf("testnet: current namespace: %w", err)
			return
		}
		defer orig.Close()
		target, err := netns.GetFromName(ns.name)
		if err != nil {
			res.err = fmt.Errorf("testnet: opening namespace %s: %w", ns, err)
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			res.err = fmt.Errorf("testnet: entering namespace %s: %w", ns, err)
			return
		}
		func() {
			defer func() { res.panic = recover() }()
			res.err = fn()
		}()
		if err := netns.Set(orig); err != nil {
			res.err = fmt.Errorf("testnet: leaving namespace %s: %w", ns, err)
			return // thread stays locked: the runtime discards it
		}
		runtime.UnlockOSThread()
	}()
	res := <-done
	if res.panic != nil {
		panic(res.panic)
	}
	return res.err
}
