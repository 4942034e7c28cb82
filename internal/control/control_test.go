package control

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAskAnswers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "ipipd.sock")
	s, err := Listen(path, func(cmd string) (any, error) {
		if cmd == "show" {
			return map[string]int{"tunnels": 2}, nil
		}
		return nil, errors.New("unknown command " + cmd)
	}, nil)
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
	if _, err := Listen(path, nil, nil); err == nil || !strings.Contains(err.Error(), "another ipipd is running") {
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
	staleSocket(t, path)
	s, err := Listen(path, func(string) (any, error) { return 1, nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("Close left the socket file")
	}
}

func TestStream(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ipipd.sock")
	done := make(chan struct{})
	s, err := Listen(path, nil, map[string]Streamer{
		"trace": func(ctx context.Context, emit func(string) error) error {
			defer close(done)
			for i := 0; i < 3; i++ {
				if err := emit(fmt.Sprint("line ", i)); err != nil {
					return err
				}
			}
			<-ctx.Done() // until the client goes away
			return nil
		},
		"busy": func(context.Context, func(string) error) error { return errors.New("already tracing") },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var got []string
	err = Stream(ctx, path, "trace", func(line string) {
		got = append(got, line)
		if len(got) == 3 {
			cancel()
		}
	})
	if err != nil || strings.Join(got, ",") != "line 0,line 1,line 2" {
		t.Fatalf("Stream = %v, %q", err, got)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the streamer did not see the client go away")
	}
	if err := Stream(context.Background(), path, "busy", func(string) {}); err == nil || !strings.Contains(err.Error(), "already tracing") {
		t.Fatalf("busy stream: %v", err)
	}
}
