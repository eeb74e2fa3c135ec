// Package image tests Breakwater's container image: the OCI layout hack/image builds without a Docker
// engine (entrypoint, non-root user, no shell, both binaries static and runnable), and the
// Dockerfile, which must put the same files at the same paths with the same user and entrypoint.
package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/hack/image/ociimage"
	"github.com/breakwater-dev/breakwater/internal/sidecar"
	"github.com/breakwater-dev/breakwater/test/testenv"
)

const ref = "ghcr.io/breakwater-dev/breakwater:test"

// TestImageLayout builds the image into an OCI layout, as `make image` does, reads it back from disk
// and checks its config and every file of every layer.
func TestImageLayout(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("runs the image's linux binaries")
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	// What `make image` runs, in its own process: under the race detector of `make test`, compressing
	// the layers in the test binary takes many times longer.
	dir := filepath.Join(t.TempDir(), "oci")
	cmd := exec.Command("go", "run", "./hack/image", "-out", dir, "-ref", ref)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run ./hack/image: %v\n%s", err, out)
	}

	img := readLayout(t, dir)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("platform = %s/%s, want linux/%s", cf.OS, cf.Architecture, runtime.GOARCH)
	}
	if diff := cmp.Diff([]string{"/manager"}, cf.Config.Entrypoint); diff != "" {
		t.Errorf("entrypoint (-want +got):\n%s", diff)
	}
	if len(cf.Config.Cmd) != 0 {
		t.Errorf("cmd = %q, want none: the Deployment and the sidecar give their own args", cf.Config.Cmd)
	}
	if cf.Config.User != "65532:65532" {
		t.Errorf("user = %q, want 65532:65532 (nonroot)", cf.Config.User)
	}

	files := layerFiles(t, img)
	var regular []string
	for name, f := range files {
		if f.hdr.Typeflag == tar.TypeReg {
			regular = append(regular, name)
		}
		if strings.HasPrefix(f.hdr.Name, ".wh.") || strings.Contains(f.hdr.Name, "/.wh.") {
			t.Errorf("whiteout %s: the layers only add files", f.hdr.Name)
		}
		switch path.Base(name) {
		case "sh", "bash", "dash", "ash", "busybox":
			t.Errorf("the image has a shell: %s", name)
		}
		if f.hdr.Uid != 0 || f.hdr.Gid != 0 {
			t.Errorf("%s is owned by %d:%d, want root so that the nonroot user cannot change it", name, f.hdr.Uid, f.hdr.Gid)
		}
	}
	slices.Sort(regular)
	want := slices.Sorted(slices.Values(ociimage.Files()))
	if diff := cmp.Diff(want, regular); diff != "" {
		t.Errorf("files in the image (-want +got):\n%s", diff)
	}
	for _, bin := range []string{"/manager", "/guard"} {
		f, ok := files[bin]
		if !ok {
			continue
		}
		if f.hdr.Mode&0o111 != 0o111 {
			t.Errorf("%s has mode %o, want it executable by everyone", bin, f.hdr.Mode)
		}
		e, err := elf.NewFile(bytes.NewReader(f.data))
		if err != nil {
			t.Fatalf("%s is not an ELF binary: %v", bin, err)
		}
		for _, p := range e.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s is dynamically linked: the image has no libc", bin)
			}
		}
	}
	if !strings.Contains(string(files["/etc/passwd"].data), "nonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd does not name the image's user 65532:\n%s", files["/etc/passwd"].data)
	}
	if !bytes.Contains(files["/etc/ssl/certs/ca-certificates.crt"].data, []byte("-----BEGIN CERTIFICATE-----")) {
		t.Error("the CA bundle holds no certificate")
	}

	// Each binary runs as its own entrypoint: the guard's flags are those internal/sidecar gives it,
	// the manager's those of the chart and config/manager.
	for bin, flag := range map[string]string{"/guard": "-config-configmap", "/manager": "-guard-image"} {
		out := runHelp(t, files[bin].data)
		if !strings.Contains(out, flag) {
			t.Errorf("%s -h does not list %s:\n%s", bin, flag, out)
		}
	}
}

// TestSidecarRunsTheImagesGuard checks that the injected container runs the guard at the image's
// path, as the image's user.
func TestSidecarRunsTheImagesGuard(t *testing.T) {
	wl := &breakwaterv1alpha1.GenAIWorkload{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "chat"}}
	c := sidecar.Container(sidecar.Input{Workload: wl, ConfigMapName: "chat-guard"}, sidecar.Options{Image: ref})
	if diff := cmp.Diff([]string{ociimage.GuardPath}, c.Command); diff != "" {
		t.Errorf("the sidecar's command (-image +sidecar):\n%s", diff)
	}
	sc := c.SecurityContext
	if sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != ociimage.UID || sc.RunAsGroup == nil || *sc.RunAsGroup != ociimage.GID {
		t.Errorf("the sidecar does not run as the image's user %s: %+v", ociimage.User, sc)
	}
}

// TestDockerfileBuildsTheSameLayout parses the Dockerfile's final stage and compares it with the
// builder: FROM scratch, the same files copied to the same paths, the same user and entrypoint.
func TestDockerfileBuildsTheSameLayout(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	stages := parseDockerfile(t, filepath.Join(root, "Dockerfile"))
	final := stages[len(stages)-1]
	if final.from != "scratch" {
		t.Errorf("the final stage is FROM %s, want scratch (as hack/image builds it)", final.from)
	}
	if len(final.sources) != len(final.copies) {
		t.Errorf("the final stage copies %q to %q: one file per COPY, so that each destination is the file's path", final.sources, final.copies)
	}
	slices.Sort(final.copies)
	want := slices.Sorted(slices.Values(ociimage.Files()))
	if diff := cmp.Diff(want, final.copies); diff != "" {
		t.Errorf("files the Dockerfile copies into the image (-hack/image +Dockerfile):\n%s", diff)
	}
	if final.user != ociimage.User {
		t.Errorf("USER %s, want %s", final.user, ociimage.User)
	}
	if diff := cmp.Diff(`["`+strings.Join(ociimage.Entrypoint, `","`)+`"]`, final.entrypoint); diff != "" {
		t.Errorf("ENTRYPOINT (-hack/image +Dockerfile):\n%s", diff)
	}
	for _, f := range []string{"passwd", "group"} {
		src := "hack/image/ociimage/rootfs/etc/" + f
		if !slices.Contains(final.sources, src) {
			t.Errorf("the Dockerfile does not copy %s, the file hack/image puts at /etc/%s", src, f)
		}
	}
}

type stage struct {
	from, user, entrypoint string
	// copies are the destinations of COPY, sources their sources.
	copies, sources []string
}

// parseDockerfile reads the instructions the test compares: FROM, COPY, USER and ENTRYPOINT, with
// line continuations joined and comments dropped.
func parseDockerfile(t *testing.T, file string) []stage {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	var cur string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "#") || (l == "" && cur == "") {
			continue
		}
		if strings.HasSuffix(l, "\\") {
			cur += strings.TrimSuffix(l, "\\") + " "
			continue
		}
		lines = append(lines, cur+l)
		cur = ""
	}
	var stages []stage
	for _, l := range lines {
		instr, rest, _ := strings.Cut(l, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "FROM":
			var image string
			for _, f := range strings.Fields(rest) {
				if !strings.HasPrefix(f, "--") {
					image = f
					break
				}
			}
			stages = append(stages, stage{from: image})
		case "COPY":
			var args []string
			for _, f := range strings.Fields(rest) {
				if !strings.HasPrefix(f, "--") {
					args = append(args, f)
				}
			}
			if len(args) < 2 {
				t.Fatalf("Dockerfile: %q: no destination", l)
			}
			s := &stages[len(stages)-1]
			s.sources = append(s.sources, args[:len(args)-1]...)
			s.copies = append(s.copies, args[len(args)-1])
		case "USER":
			stages[len(stages)-1].user = rest
		case "ENTRYPOINT":
			stages[len(stages)-1].entrypoint = strings.ReplaceAll(rest, " ", "")
		}
	}
	if len(stages) == 0 {
		t.Fatal("Dockerfile: no FROM")
	}
	return stages
}

func readLayout(t *testing.T, dir string) v1.Image {
	t.Helper()
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 {
		t.Fatalf("the layout's index lists %d manifests, want 1", len(im.Manifests))
	}
	desc := im.Manifests[0]
	if desc.Annotations[ociimage.RefNameAnnotation] != ref {
		t.Errorf("the image is named %q in the index, want %q", desc.Annotations[ociimage.RefNameAnnotation], ref)
	}
	if desc.Platform == nil || desc.Platform.OS != "linux" {
		t.Errorf("the index gives platform %+v, want linux", desc.Platform)
	}
	img, err := idx.Image(desc.Digest)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

type layerFile struct {
	hdr  *tar.Header
	data []byte
}

// layerFiles reads every layer, oldest first, into the image's file tree keyed by absolute path.
func layerFiles(t *testing.T, img v1.Image) map[string]layerFile {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) == 0 {
		t.Fatal("the image has no layers")
	}
	files := map[string]layerFile{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			hdr, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files["/"+strings.TrimSuffix(strings.TrimPrefix(hdr.Name, "./"), "/")] = layerFile{hdr: hdr, data: data}
		}
		_ = rc.Close()
	}
	return files
}

// runHelp writes a binary of the image to disk and runs it with -h: Go's flag package prints the
// flags and exits with status 0 (-h is a request for help, not an error).
func runHelp(t *testing.T, data []byte) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bin")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command(bin, "-h").CombinedOutput()
	return string(out)
}
