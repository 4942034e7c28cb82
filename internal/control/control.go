// Package control is the daemon's unix control socket: `ipipd show` asks a
// running `ipipd run` for its state over it. One request per connection,
// one JSON line each way; the socket is mode 0600 because counters and
// topology are the operator's business.
package control

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// DefaultPath is where the daemon listens unless --control says otherwise.
const DefaultPath = "/run/ipipd/ipipd.sock"

// Request asks for one command's answer.
type Request struct {
	Command string `json:"command"`
}

// Response carries the answer or the error.
type Response struct {
	Error string          `json:"error,omitempty"`
	Data  json.RawMessage `json:"data,omitempty"`
}

// Handler answers a command; the value is sent as JSON.
type Handler func(command string) (any, error)

// Server serves requests until Close.
type Server struct {
	ln   net.Listener
	path string
}

// Listen creates the socket at path (and its directory), refusing to take
// over the socket of a daemon that still answers there.
func Listen(path string, handle Handler) (*Server, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if conn, err := net.DialTimeout("unix", path, time.Second); err == nil {
		conn.Close()
		return nil, fmt.Errorf("control socket %s: another ipipd is running there; stop it or give this one its own --control path", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("control socket %s: removing the stale socket: %w", path, err)
	}
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	s := &Server{ln: ln, path: path}
	go s.serve(handle)
	return s, nil
}

func (s *Server) serve(handle Handler) {
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		go answer(conn, handle)
	}
}

func answer(conn net.Conn, handle Handler) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	var req Request
	var resp Response
	line, err := bufio.NewReader(io.LimitReader(conn, 1<<16)).ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &req)
	}
	if err != nil {
		resp.Error = "bad request: " + err.Error()
	} else if v, err := handle(req.Command); err != nil {
		resp.Error = err.Error()
	} else if resp.Data, err = json.Marshal(v); err != nil {
		resp.Error = err.Error()
	}
	out, _ := json.Marshal(resp)
	conn.Write(append(out, '\n'))
}

// Close stops listening and removes the socket file.
func (s *Server) Close() error {
	err := s.ln.Close()
	os.Remove(s.path)
	return err
}

// Ask sends command to the daemon at path and decodes its answer into v.
func Ask(path, command string, v any) error {
	conn, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("no ipipd is running with control socket %s (start one with `ipipd run -c FILE`, or pass its --control path)", path)
		}
		return fmt.Errorf("control socket %s: %w", path, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	req, _ := json.Marshal(Request{Command: command})
	if _, err := conn.Write(append(req, '\n')); err != nil {
		return fmt.Errorf("control socket %s: %w", path, err)
	}
	line, err := bufio.NewReader(conn).ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("control socket %s: reading the answer: %w", path, err)
	}
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		return fmt.Errorf("control socket %s: bad answer: %w", path, err)
	}
	if resp.Error != "" {
		return errors.New(resp.Error)
	}
	return json.Unmarshal(resp.Data, v)
}
