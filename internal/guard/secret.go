package guard

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// secretRecheck is how often a mounted Secret file is read again, so that a rotated key (the
// kubelet updates the file in place) takes effect without a config change.
const secretRecheck = 30 * time.Second

// secretFile is a key read from a mounted Secret file. Value never blocks on I/O for long: at
// most one request per recheck period re-reads the file, and a failed re-read keeps the old key.
type secretFile struct {
	path    string
	log     *slog.Logger
	value   atomic.Pointer[string]
	checked atomic.Int64 // unix nanoseconds of the last read
}

// loadSecret reads the file now; the config load fails if it cannot.
func loadSecret(path string, log *slog.Logger) (*secretFile, error) {
	v, err := readSecret(path)
	if err != nil {
		return nil, err
	}
	s := &secretFile{path: path, log: log}
	s.value.Store(&v)
	s.checked.Store(time.Now().UnixNano())
	return s, nil
}

// Value returns the current key.
func (s *secretFile) Value() string {
	now := time.Now().UnixNano()
	last := s.checked.Load()
	if now-last > int64(secretRecheck) && s.checked.CompareAndSwap(last, now) {
		if v, err := readSecret(s.path); err != nil {
			s.log.Error("Could not re-read a secret file, keeping the previous value", "path", s.path, "error", err)
		} else {
			s.value.Store(&v)
		}
	}
	return *s.value.Load()
}

// readSecret reads a mounted Secret key. The error names the file, never its content.
func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	if strings.ContainsAny(v, "\r\n") {
		return "", fmt.Errorf("%s holds more than one line", path)
	}
	return v, nil
}
