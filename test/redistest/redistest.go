// Package redistest starts a real Redis server (Debian's redis-server, through hack/redis.sh) on a
// free loopback port for the tests of fleet-wide admission, and stops and restarts it on the same
// port for the tests of store failure.
package redistest

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/breakwater-dev/breakwater/test/localproc"
	"github.com/breakwater-dev/breakwater/test/testenv"
)

// Binary finds redis-server: $REDIS_SERVER, then PATH, then hack/redis.sh (testenv.Tool).
func Binary() (string, error) {
	return testenv.Tool("REDIS_SERVER", "redis-server", "redis.sh")
}

// Server is a running (or stopped) redis-server.
type Server struct {
	// Addr is host:port, the same across restarts.
	Addr string
	bin  string
	args []string
	g    *localproc.Group
	p    *localproc.Proc
	runs int
}

// Start runs redis-server without persistence on a free loopback port, stopped when t ends, and
// returns its address once it accepts connections.
func Start(t testing.TB) string {
	t.Helper()
	return StartServer(t).Addr
}

// StartServer is Start returning the server, to stop and restart it; args are more redis-server
// options, such as "--requirepass", "secret".
func StartServer(t testing.TB, args ...string) *Server {
	t.Helper()
	s, err := Launch(t.TempDir(), args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Launch is StartServer outside a test (the benchmarks): the server logs into logDir, and Stop
// ends it.
func Launch(logDir string, args ...string) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin, args: args, g: &localproc.Group{LogDir: logDir}}
	for try := 0; try < 5; try++ {
		if s.Addr, err = localproc.FreeAddr(); err != nil {
			return nil, err
		}
		if err = s.Restart(); err == nil {
			return s, nil
		}
	}
	s.Stop()
	return nil, fmt.Errorf("redis-server did not start on a free port: %w", err)
}

// Stop ends the server and every earlier run of it.
func (s *Server) Stop() { s.g.StopAll(5 * time.Second) }

// Kill stops the server at once (SIGKILL after no grace), as a crashed or partitioned store.
func (s *Server) Kill() { s.p.Stop(0) }

// Restart starts the server again on its address, empty, and waits until it accepts connections.
func (s *Server) Restart() error {
	_, port, _ := net.SplitHostPort(s.Addr)
	s.runs++
	p, err := s.g.Start(fmt.Sprintf("redis-%s-%d", port, s.runs), nil, s.bin,
		append([]string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"}, s.args...)...)
	if err != nil {
		return err
	}
	s.p = p
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", s.Addr); err == nil {
			c.Close()
			return nil
		}
		if err := p.Alive(); err != nil {
			return fmt.Errorf("redis-server exited: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.Stop(time.Second)
	return fmt.Errorf("redis-server not accepting connections on %s", s.Addr)
}
