package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Tool finds a server binary the tests run for real: $envVar (the Makefile sets it from the hack
// script), then name on PATH, then hack/<script>, which installs Debian's package when the machine
// lacks it and prints the binary's path.
func Tool(envVar, name, script string) (string, error) {
	if p := os.Getenv(envVar); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w; run hack/%s or unset it", envVar, p, err, script)
		}
		return p, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	out, err := exec.Command("bash", filepath.Join(root, "hack", script)).Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			err = fmt.Errorf("%w: %s", err, exit.Stderr)
		}
		return "", fmt.Errorf("no %s, and hack/%s could not install Debian's package: %w", name, script, err)
	}
	return strings.TrimSpace(string(out)), nil
}
