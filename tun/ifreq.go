package tun

import "golang.org/x/sys/unix"

// The two interface ioctls the backends need, each one system call on a
// throw-away socket of the calling thread's network namespace. Not
// net.InterfaceByName: it dumps every link of the namespace to find one,
// so opening N devices read N² links.

// deviceIndex is the ifindex of the device called name, if there is one.
//
// Equivalent to: `ip link show dev $name`
func deviceIndex(name string) (int, bool) {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, false
	}
	if err := ifreqIoctl(unix.SIOCGIFINDEX, ifr); err != nil {
		return 0, false
	}
	return int(ifr.Uint32()), true
}

// setDeviceMTU sets the device's MTU.
//
// Equivalent to: `ip link set dev $name mtu $mtu`
func setDeviceMTU(name string, mtu int) error {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	ifr.SetUint32(uint32(mtu))
	return ifreqIoctl(unix.SIOCSIFMTU, ifr)
}

func ifreqIoctl(request uint, ifr *unix.Ifreq) error {
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(s)
	return unix.IoctlIfreq(s, request, ifr)
}
