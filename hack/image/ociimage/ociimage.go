// Package ociimage assembles Breakwater's container image without a Docker engine: both binaries
// built statically, on an empty base with only what they need (CA certificates, an /etc/passwd that
// names the nonroot user), written as an OCI image layout. The Dockerfile builds the same files at
// the same paths with the same user and entrypoint; test/image checks both against these constants.
package ociimage

import (
	"archive/tar"
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's layout. The injected guard container runs GuardPath (internal/sidecar sets it as the
// container's command) as User; the manager's Deployment runs the entrypoint, ManagerPath.
const (
	ManagerPath = "/manager"
	GuardPath   = "/guard"
	// UID and GID are distroless' nonroot user, named in PasswdPath and GroupPath.
	UID  = 65532
	GID  = 65532
	User = "65532:65532"

	PasswdPath  = "/etc/passwd"
	GroupPath   = "/etc/group"
	CACertsPath = "/etc/ssl/certs/ca-certificates.crt"

	// RefNameAnnotation names the image in the layout's index (what `crane`, `skopeo` and
	// `oras` call the tag of an OCI layout).
	RefNameAnnotation = "org.opencontainers.image.ref.name"
)

// Entrypoint is the image's entrypoint: the manager.
var Entrypoint = []string{ManagerPath}

// The files of rootfs/ are also what the Dockerfile copies into its image.
var (
	//go:embed rootfs/etc/passwd
	passwd []byte
	//go:embed rootfs/etc/group
	group []byte
)

// Files are the paths of every regular file in the image.
func Files() []string {
	return []string{PasswdPath, GroupPath, CACertsPath, ManagerPath, GuardPath}
}

// Options say what to build and from where.
type Options struct {
	// RepoRoot is the module's top folder; the binaries are built from ./cmd/manager and ./cmd/guard.
	RepoRoot string
	// Arch is the GOARCH of the image (the OS is linux).
	Arch string
	// CACerts is the CA bundle to copy into the image, usually the machine's
	// /etc/ssl/certs/ca-certificates.crt (Debian's ca-certificates).
	CACerts string
	// RefName is the name of the image in the layout's index, e.g. ghcr.io/breakwater-dev/breakwater:dev.
	RefName string
}

// BuildLayout builds both binaries into a temporary folder, assembles the image and writes it as an
// OCI image layout into dir, which must not exist or be empty. It returns the image.
func BuildLayout(ctx context.Context, o Options, dir string) (v1.Image, error) {
	bins, err := os.MkdirTemp("", "breakwater-image-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(bins)
	for _, b := range []string{ManagerPath, GuardPath} {
		if err := goBuild(ctx, o, filepath.Join(bins, path.Base(b)), "./cmd/"+path.Base(b)); err != nil {
			return nil, err
		}
	}
	img, err := Image(o, bins)
	if err != nil {
		return nil, err
	}
	if err := WriteLayout(dir, img, o); err != nil {
		return nil, err
	}
	return img, nil
}

// goBuild builds a static binary: the image has no libc. The flags are the Dockerfile's.
func goBuild(ctx context.Context, o Options, out, pkg string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = o.RepoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+o.Arch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// Image assembles the image from the binaries manager and guard in folder bins: one layer with the
// system files, one with the binaries (which changes with every build), the manager as entrypoint.
func Image(o Options, bins string) (v1.Image, error) {
	if o.Arch == "" {
		return nil, errors.New("no architecture given")
	}
	certs, err := os.ReadFile(o.CACerts)
	if err != nil {
		return nil, fmt.Errorf("reading the CA certificates to copy into the image (Debian: apt-get install ca-certificates): %w", err)
	}
	system, err := layer([]file{
		{path: PasswdPath, mode: 0o644, data: passwd},
		{path: GroupPath, mode: 0o644, data: group},
		{path: CACertsPath, mode: 0o644, data: certs},
	})
	if err != nil {
		return nil, err
	}
	var binFiles []file
	for _, b := range []string{ManagerPath, GuardPath} {
		data, err := os.ReadFile(filepath.Join(bins, path.Base(b)))
		if err != nil {
			return nil, err
		}
		binFiles = append(binFiles, file{path: b, mode: 0o755, data: data})
	}
	binaries, err := layer(binFiles)
	if err != nil {
		return nil, err
	}

	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	base, err = mutate.ConfigFile(base, &v1.ConfigFile{
		Architecture: o.Arch,
		OS:           "linux",
		Config: v1.Config{
			Entrypoint: Entrypoint,
			User:       User,
		},
	})
	if err != nil {
		return nil, err
	}
	return mutate.Append(base,
		mutate.Addendum{Layer: system, History: v1.History{CreatedBy: "hack/image: /etc/passwd, /etc/group, CA certificates"}},
		mutate.Addendum{Layer: binaries, History: v1.History{CreatedBy: "hack/image: /manager and /guard (CGO_ENABLED=0)"}},
	)
}

// WriteLayout writes img as the only image of an OCI image layout in dir.
func WriteLayout(dir string, img v1.Image, o Options) error {
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("creating the OCI layout in %s: %w", dir, err)
	}
	opts := []layout.Option{layout.WithPlatform(v1.Platform{OS: "linux", Architecture: o.Arch})}
	if o.RefName != "" {
		opts = append(opts, layout.WithAnnotations(map[string]string{RefNameAnnotation: o.RefName}))
	}
	if err := p.AppendImage(img, opts...); err != nil {
		return fmt.Errorf("writing the image into %s: %w", dir, err)
	}
	return nil
}

// epoch is every file's modification time.
var epoch = time.Unix(0, 0)

type file struct {
	path string
	mode int64
	data []byte
}

// layer makes a layer of files, owned by root (the nonroot user cannot change them), with their
// parent folders and a fixed modification time, so that the same inputs give the same digest.
func layer(files []file) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, f := range files {
		name := strings.TrimPrefix(f.path, "/")
		var parents []string
		for d := path.Dir(name); d != "."; d = path.Dir(d) {
			parents = append([]string{d}, parents...)
		}
		for _, d := range parents {
			if dirs[d] {
				continue
			}
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
				return nil, err
			}
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: f.mode, Size: int64(len(f.data)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	// Compressed once: the digest and the layout's blob are computed from the same gzip stream.
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
}
