package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/ipipd/ipipd/internal/lab"
)

// benchmark runs everything and returns what it measured. It returns
// results (maybe partial) together with an error when the run was cut
// short, and nil results when nothing could start.
func benchmark(ctx context.Context, opts options, log io.Writer) (*results, error) {
	if err := prerequisites(); err != nil {
		return nil, err
	}
	if removed := cleanupStale(); len(removed) > 0 {
		fmt.Fprintf(log, "removed namespaces left by an earlier run: %s\n", strings.Join(removed, ", "))
	}
	dir, err := os.MkdirTemp("", "ipipbench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	res := &results{Meta: meta{
		Started: time.Now().UTC(), Command: opts.command(),
		Kernel: kernelRelease(), CPUs: runtime.NumCPU(), GoVersion: runtime.Version(),
		Iperf3: toolVersion(ctx, "iperf3", "--version"), Reps: opts.reps,
		Seconds: int(opts.duration / time.Second), Cases: opts.cases, Check: opts.check,
		Underlay:   opts.underlay,
		LoadBefore: loadavg(),
	}}
	e := &env{dir: dir}
	if needsDaemon(opts.cases) {
		e.binary, e.binaryErr = ipipdBinary(ctx, opts.binary, dir, &res.Meta)
		if e.binaryErr != nil {
			fmt.Fprintf(log, "no ipipd binary, its cases will be marked failed: %v\n", e.binaryErr)
		}
	}
	if slices.Contains(opts.cases, "wireguard-go") {
		e.wireGuard, e.wireGuardErr = wireGuardBinary(ctx, opts.wireGuard, &res.Meta)
		if e.wireGuardErr != nil {
			fmt.Fprintf(log, "no wireguard-go binary, its case will be marked failed: %v\n", e.wireGuardErr)
		}
	}
	topo, err := newTopology(ctx, opts.underlay)
	if err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	e.topo = topo
	defer func() {
		if err := topo.close(); err != nil {
			fmt.Fprintf(log, "ipipbench: cleanup: %v\n", err)
		}
	}()
	fmt.Fprintf(log, "namespaces %s and %s; %d rep(s) × %v per test; cases %s\n",
		topo.a, topo.b, opts.reps, opts.duration, strings.Join(opts.cases, ", "))

	r := &runner{env: e, seconds: res.Meta.Seconds, log: log}
	for rep := 1; rep <= opts.reps && ctx.Err() == nil; rep++ {
		for _, name := range repOrder(opts.cases, rep) {
			if ctx.Err() != nil {
				break
			}
			spec, _ := findCase(name)
			cr := r.runCase(ctx, spec, rep)
			if cr.Error != "" {
				fmt.Fprintf(log, "  rep %d %-12s failed: %s\n", rep, name, cr.Error)
			}
			res.Runs = append(res.Runs, cr)
		}
	}
	res.Meta.Finished = time.Now().UTC()
	res.Meta.LoadAfter = loadavg()
	if ctx.Err() != nil {
		res.Meta.Interrupted = true
		return res, fmt.Errorf("interrupted: %v; results so far are kept", context.Cause(ctx))
	}
	return res, nil
}

// repOrder is the order of the cases in repetition rep: the list turned
// by one place each repetition, so that none always goes first (right
// after the builds) or always follows the same case. Cases are compared
// within a run; their order must not favour one.
func repOrder(cases []string, rep int) []string {
	k := (rep - 1) % len(cases)
	return append(slices.Clone(cases[k:]), cases[:k]...)
}

// needsDaemon reports whether some case runs ipipd.
func needsDaemon(cases []string) bool {
	for _, c := range cases {
		if strings.HasPrefix(c, "ipipd") {
			return true
		}
	}
	return false
}

// ipipdBinary returns the -binary path made absolute, or builds one.
func ipipdBinary(ctx context.Context, given, dir string, m *meta) (string, error) {
	if given != "" {
		p, err := filepath.Abs(given)
		if err != nil {
			return "", err
		}
		if st, err := os.Stat(p); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return "", fmt.Errorf("-binary %s: not an executable file", given)
		}
		m.Binary = p
		return p, nil
	}
	root, err := lab.ModuleRoot()
	if err != nil {
		return "", err
	}
	m.Binary = "built from ./cmd/ipipd"
	m.Source = sourceDescription(ctx, root)
	p, err := lab.Build(ctx, root, dir)
	if err != nil {
		return "", fmt.Errorf("%w (or pass -binary)", err)
	}
	return p, nil
}

// prerequisites names what is missing: root and the commands driven.
func prerequisites() error {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, fmt.Sprintf("root (running as uid %d; namespaces, TUN and raw sockets need it)", os.Geteuid()))
	}
	for _, c := range []string{"ip", "iperf3", "ping", "ss"} {
		if _, err := exec.LookPath(c); err != nil {
			missing = append(missing, "the "+c+" command (scripts/deps.sh installs it)")
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("cannot run: needs %s", strings.Join(missing, "; "))
	}
	return nil
}

func kernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown"
	}
	return "Linux " + strings.TrimSpace(string(b))
}
