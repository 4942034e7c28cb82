// Package control is the daemon's unix control socket: `ipipd show` asks a
// running `ipipd run` for its state over it. One request per connection,
// one JSON line each way; the socket is mode 0600 because counters and
// topology are the operator's business.
package control

import (
	"bufio"
	"context"
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

// Streamer answers a streaming command (ipipd trace): it sends lines with
// emit until ctx ends, which happens when the client goes away.
type Streamer func(ctx context.Context, emit func(line string) error) error

// Server serves requests until Close.
type Server struct {
	ln      net.Listener
	path    string
	streams map[string]Streamer
}

// Listen creates the socket at path (and its directory). It replaces a
// stale socket but refuses one a daemon still answers on, and anything at
// path that is not a socket (see takeOver). Commands named in
// streams are answered by their Streamer, the others by handle.
func Listen(path string, handle Handler, streams map[string]Streamer) (*Server, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := takeOver(path); err != nil {
		return nil, err
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
	s := &Server{ln: ln, path: path, streams: streams}
	go s.serve(handle)
	return s, nil
}

func (s *Server) serve(handle Handler) {
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		go s.answer(conn, handle)
	}
}

func (s *Server) answer(conn net.Conn, handle Handler) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	var req Request
	var resp Response
	line, err := bufio.NewReader(io.LimitReader(conn, 1<<16)).ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &req)
	}
	if stream, ok := s.streams[req.Command]; ok && err == nil {
		serveStream(conn, stream)
		return
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
	conn, err := dial(path)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	_, resp, err := exchange(conn, path, command)
	if err != nil {
		return err
	}
	return json.Unmarshal(resp.Data, v)
}

// dial connects to the daemon's control socket at path, saying when no
// daemon is there.
func dial(path string) (net.Conn, error) {
	conn, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("no ipipd is running with control socket %s (start one with `ipipd run -c FILE`, or pass its --control path)", path)
		}
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	return conn, nil
}

// exchange sends command on conn and reads the daemon's first answer line,
// returning the reader for any lines after it; an answer carrying an error
// is returned as that error.
func exchange(conn net.Conn, path, command string) (*bufio.Reader, Response, error) {
	req, _ := json.Marshal(Request{Command: command})
	if _, err := conn.Write(append(req, '\n')); err != nil {
		return nil, Response{}, fmt.Errorf("control socket %s: %w", path, err)
	}
	r := bufio.NewReader(conn)
	line, err := r.ReadBytes('\n')
	if err != nil {
		return nil, Response{}, fmt.Errorf("control socket %s: reading the answer: %w", path, err)
	}
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		return nil, Response{}, fmt.Errorf("control socket %s: bad answer: %w", path, err)
	}
	if resp.Error != "" {
		return nil, Response{}, errors.New(resp.Error)
	}
	return r, resp, nil
}

// serveStream answers a streaming command: an empty Response line says the
// stream starts, then one line per emit, and a Response line with the error
// if the Streamer fails. The client ends it by closing the connection.
func serveStream(conn net.Conn, stream Streamer) {
	conn.SetDeadline(time.Time{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // a read returns when the client closes its end
		io.Copy(io.Discard, conn)
		cancel()
	}()
	emit := func(line string) error {
		conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		_, err := conn.Write(append([]byte(line), '\n'))
		return err
	}
	if _, err := conn.Write([]byte("{}\n")); err != nil {
		return
	}
	if err := stream(ctx, emit); err != nil && ctx.Err() == nil {
		out, _ := json.Marshal(Response{Error: err.Error()})
		conn.Write(append(out, '\n'))
	}
}

// Stream sends a streaming command to the daemon at path and calls each
// for every line until ctx ends or the daemon closes the stream.
func Stream(ctx context.Context, path, command string, each func(line string)) error {
	conn, err := dial(path)
	if err != nil {
		return err
	}
	defer conn.Close()
	go func() {
		<-ctx.Done()
		conn.Close()
	}()
	r, _, err := exchange(conn, path, command)
	if err != nil {
		return err
	}
	for {
		line, err := r.ReadString('\n')
		if len(line) > 0 && line[0] == '{' {
			var end Response
			if json.Unmarshal([]byte(line), &end) == nil && end.Error != "" {
				return errors.New(end.Error)
			}
		}
		if err != nil {
			return nil // Ctrl-C, or the daemon stopped: the stream is over
		}
		each(line[:len(line)-1])
	}
}
