// Command image builds Breakwater's container image into an OCI image layout without a Docker
// engine (`make image`): both binaries static, the manager as entrypoint, /guard for the injected
// sidecar, user nonroot, no shell (hack/image/ociimage). Load it with `skopeo copy oci:<dir>
// docker://<registry>/<name>:<tag>`, `crane push <dir> <ref>` or `oras cp --from-oci-layout`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"

	"github.com/breakwater-dev/breakwater/hack/image/ociimage"
)

func main() {
	out := flag.String("out", "bin/image/oci", "Folder of the OCI image layout; replaced if it exists.")
	ref := flag.String("ref", "ghcr.io/breakwater-dev/breakwater:dev", "Name of the image in the layout's index (org.opencontainers.image.ref.name).")
	arch := flag.String("arch", runtime.GOARCH, "GOARCH of the image.")
	certs := flag.String("ca-certificates", "/etc/ssl/certs/ca-certificates.crt", "CA bundle copied into the image.")
	flag.Parse()

	root, err := os.Getwd()
	if err == nil {
		err = os.RemoveAll(*out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
	img, err := ociimage.BuildLayout(context.Background(), ociimage.Options{RepoRoot: root, Arch: *arch, CACerts: *certs, RefName: *ref}, *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
	digest, err := img.Digest()
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
	fmt.Printf("image: %s (%s, linux/%s) in OCI layout %s\n", *ref, digest, *arch, *out)
}
