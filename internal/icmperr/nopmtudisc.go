package icmperr

import (
	"bytes"
	"fmt"
	"os"
	"syscall"
)

// net.ipv4.ip_no_pmtu_disc decides, in icmp_unreach, what a frag-needed is
// worth before ipip_err sees it. A raw ICMP socket receives every error
// whatever the setting (raw_local_deliver runs before icmp_rcv), so the
// Reader applies it itself.
const noPMTUDiscPath = "/proc/sys/net/ipv4/ip_no_pmtu_disc"

// ApplyNoPMTUDisc returns what icmp_unreach passes on of frag-needed ev
// under ip_no_pmtu_disc mode, and false when it discards it:
//
//	0: the ICMP's next-hop MTU, as sent (the default);
//	2: discarded;
//	3: discarded unless the quoted protocol validates its errors strictly,
//	   which tunnel4 does not;
//	any other value (1): passed on with MTU 0, which the path MTU code
//	   raises to net.ipv4.route.min_pmtu and locks (outer DF cleared).
//
// Other events pass unchanged.
func ApplyNoPMTUDisc(ev Event, mode int) (Event, bool) {
	if !ev.FragNeeded() {
		return ev, true
	}
	switch mode {
	case 0:
		return ev, true
	case 2, 3:
		return ev, false
	}
	ev.MTU = 0
	return ev, true
}

// sysctlFile reads one integer sysctl of the network namespace it was
// opened in: /proc/sys/net resolves to the opener's namespace, and the open
// file keeps it, so Read gives the Reader's namespace's value from any
// thread.
type sysctlFile struct {
	f   *os.File
	buf [32]byte
}

func openSysctl(path string) (*sysctlFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return &sysctlFile{f: f}, nil
}

// Read returns the value now. It allocates nothing unless it fails.
func (s *sysctlFile) Read() (int, error) {
	n, err := syscall.Pread(int(s.f.Fd()), s.buf[:], 0)
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", s.f.Name(), err)
	}
	v, ok := parseInt(s.buf[:n])
	if !ok {
		return 0, fmt.Errorf("%s holds %q, not an integer", s.f.Name(), s.buf[:n])
	}
	return v, nil
}

// parseInt reads a decimal integer with an optional sign and surrounding
// white space, as the kernel prints a sysctl (strconv would need a string).
func parseInt(b []byte) (int, bool) {
	b = bytes.TrimSpace(b)
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 10 {
		return 0, false
	}
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	if neg {
		v = -v
	}
	return v, true
}

func (s *sysctlFile) Close() error { return s.f.Close() }
