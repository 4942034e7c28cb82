package tun

import "fmt"

// MaxNameLen is the longest network device name the kernel accepts, in bytes
// (IFNAMSIZ - 1: the last byte of the 16 is the terminating NUL).
const MaxNameLen = 15

// CheckName returns an error saying what is wrong when name is not a usable
// network device name. It applies the kernel's dev_valid_name (1 to 15 bytes,
// not "." or "..", no '/', ':' or whitespace) and also refuses '%', with
// which the kernel would treat the name as a template such as "tun%d" and
// pick a different one.
func CheckName(name string) error {
	const accepted = "a device name is 1 to 15 bytes with no '/', ':', '%' or whitespace, and not \".\" or \"..\""
	switch {
	case name == "":
		return fmt.Errorf("empty device name: %s", accepted)
	case len(name) > MaxNameLen:
		return fmt.Errorf("device name %q is %d bytes long: %s", name, len(name), accepted)
	case name == "." || name == "..":
		return fmt.Errorf("device name %q is not allowed: %s", name, accepted)
	}
	for i := 0; i < len(name); i++ {
		if isForbiddenNameByte(name[i]) {
			return fmt.Errorf("device name %q contains %q: %s", name, name[i], accepted)
		}
	}
	return nil
}

// isForbiddenNameByte mirrors the kernel's dev_valid_name, which refuses '/'
// (names are paths in sysfs and /proc/sys), ':' (the old alias syntax
// "eth0:1") and the bytes its isspace() matches (0xa0 included); '%' is added
// because it makes a name a template.
func isForbiddenNameByte(b byte) bool {
	switch b {
	case '/', ':', '%', ' ', '\t', '\n', '\v', '\f', '\r', 0xa0:
		return true
	}
	return false
}

// nameTakenError says that a device called name (with ifindex) already
// exists. For tunl0 it adds the likely cause: the kernel's ipip module
// creates a tunl0 in every network namespace (fallback tunnels, unless
// net.core.fb_tunnels_only_for_init_net says otherwise).
func nameTakenError(name string, ifindex int) error {
	err := fmt.Errorf("open TUN device %s: a network device named %s (index %d) already exists in this network namespace; choose another name or remove it", name, name, ifindex)
	if name == "tunl0" {
		err = fmt.Errorf("%w (if the kernel's ipip module is loaded, it creates tunl0 in every network namespace: unload it with `modprobe -r ipip`, or set net.core.fb_tunnels_only_for_init_net=2 before the namespace is made)", err)
	}
	return err
}
