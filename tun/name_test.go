package tun

import (
	"strings"
	"testing"
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
