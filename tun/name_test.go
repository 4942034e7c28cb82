package tun

import (
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/ipipd/ipipd/internal/lab"
)

func TestCheckName(t *testing.T) {
	tests := []struct {
		name    string
		wantErr string // "" for a valid name
	}{
		{"tunl0", ""},
		{"ipiptun", ""},
		{"a", ""},
		{"exactly15bytes_", ""},
		{"dot.ted", ""},
		{"", "empty device name"},
		{"sixteen_bytes_ab", "is 16 bytes long"},
		{".", "not allowed"},
		{"..", "not allowed"},
		{"a/b", `contains '/'`},
		{"../etc", `contains '/'`},
		{"eth0:1", `contains ':'`},
		{"tun%d", `contains '%'`},
		{"has space", `contains ' '`},
		{"tab\there", `contains '\t'`},
		{"nbsp\xa0", `contains`},
	}
	for _, tt := range tests {
		err := CheckName(tt.name)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("CheckName(%q) = %v, want nil", tt.name, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("CheckName(%q) = %v, want an error containing %q", tt.name, err, tt.wantErr)
		case err != nil && !strings.Contains(err.Error(), "1 to 15 bytes"):
			t.Errorf("CheckName(%q) = %v, want it to say what is accepted", tt.name, err)
		}
	}
}

// A taken tunl0 is most often the kernel's own, which the ipip module
// creates in every namespace; the error says so, and how to avoid it.
func TestTakenTunl0NamesTheKernelModule(t *testing.T) {
	lab.EnterFresh(t)
	link := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "tunl0"}, PeerName: "tunl0peer"} // any device will do
	if err := netlink.LinkAdd(link); err != nil {
		t.Fatal(err)
	}
	for name, open := range map[string]func() error{
		"water":   func() error { d, err := OpenWater("tunl0"); closeIf(d); return err },
		"offload": func() error { d, err := OpenOffload("tunl0", 1480); closeIf(d); return err },
	} {
		err := open()
		if err == nil || !strings.Contains(err.Error(), "already exists") || !strings.Contains(err.Error(), "modprobe -r ipip") {
			t.Errorf("%s: %v; want it to say tunl0 exists and name the ipip module", name, err)
		}
	}
	if err := nameTakenError("eth7", 3); strings.Contains(err.Error(), "ipip") {
		t.Errorf("another taken name mentions the ipip module: %v", err)
	}
}

func closeIf(d Device) {
	if d != nil {
		d.Close()
	}
}
