package demo

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// checkPrereqs fails fast, before anything is created, with what is missing
// and how to get it: building namespaces needs root and iproute2, the pings
// need ping, and the daemons need the ipipd binary.
func checkPrereqs(binary string) error {
	var errs []error
	if uid := os.Geteuid(); uid != 0 {
		errs = append(errs, fmt.Errorf("needs root to create network namespaces (running as uid %d): run as root or with sudo", uid))
	}
	if _, err := exec.LookPath("ip"); err != nil {
		errs = append(errs, errors.New("the `ip` command is missing: install iproute2 (apt-get install iproute2)"))
	}
	if _, err := exec.LookPath("ping"); err != nil {
		errs = append(errs, errors.New("the `ping` command is missing: install iputils-ping (apt-get install iputils-ping)"))
	}
	if binary == "" {
		errs = append(errs, errors.New("no ipipd binary to run in the namespaces: Options.Binary is empty"))
	} else if fi, err := os.Stat(binary); err != nil {
		errs = append(errs, fmt.Errorf("the ipipd binary %s: %w", binary, err))
	} else if fi.IsDir() || fi.Mode()&0o111 == 0 {
		errs = append(errs, fmt.Errorf("the ipipd binary %s is not an executable file", binary))
	}
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return errors.New("cannot run here:\n  " + strings.Join(msgs, "\n  "))
}
