package control

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAskAnswers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "ipipd.sock")
	s, err := Listen(path, func(cmd string) (any, error) {
		if cmd == "show" {
			return map[string]int{"tunnels": 2}, nil
		}
		return nil, errors.New("unknown command " + cmd)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, err %v; want 0600", fi.Mode().Perm(), err)
	}
	var got map[string]int
	if err := Ask(path, "show", &got); err != nil || got["tunnels"] != 2 {
		t.Fatalf("show: %v %v", got, err)
	}
	if err := Ask(path, "bogus", &got); err == nil || !strings.Contains(err.Error(), "unknown command bogus") {
		t.Fatalf("bogus: %v", err)
	}
	if _, err := Listen(path, nil); err == nil || !strings.Contains(err.Error(), "another ipipd is running") {
		t.Fatalf("second listener: %v", err)
	}
}

func TestAskWithoutDaemon(t *testing.T) {
	err := Ask(filepath.Join(t.TempDir(), "none.sock"), "show", new(any))
	if err == nil || !strings.Contains(err.Error(), "no ipipd is running") {
		t.Fatalf("err = %v", err)
	}
}

func TestStaleSocketIsReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ipipd.sock")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Listen(path, func(string) (any, error) { return 1, nil })
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("Close left the socket file")
	}
}
