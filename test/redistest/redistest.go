// Package redistest starts a real Redis server (Debian's redis-server, through hack/redis.sh) on a
// free loopback port for the tests of fleet-wide admission.
package redistest

import (
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

// Start runs redis-server without persistence on a free loopback port, stopped when t ends, and
// returns its address once it accepts connections.
func Start(t testing.TB) string {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	g := &localproc.Group{LogDir: t.TempDir()}
	t.Cleanup(func() { g.StopAll(5 * time.Second) })
	for try := 0; try < 5; try++ {
		addr, err := localproc.FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(addr)
		p, err := g.Start("redis-"+port, nil, bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 100; i++ {
			if c, err := net.Dial("tcp", addr); err == nil {
				c.Close()
				return addr
			}
			if p.Alive() != nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		p.Stop(time.Second)
	}
	t.Fatal("redis-server did not start on a free port")
	return ""
}
