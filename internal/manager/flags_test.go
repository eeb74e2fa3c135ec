package manager

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/breakwater-dev/breakwater/test/testenv"
)

// TestEveryFlagIsDocumented keeps docs/manager.md true: each flag cmd/manager registers is listed.
func TestEveryFlagIsDocumented(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "manager.md"))
	if err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	var o Options
	o.BindFlags(fs)
	var s SourceOptions
	s.BindFlags(fs)
	var z zap.Options
	z.BindFlags(fs)
	fs.String("kubeconfig", "", "registered by controller-runtime's config package")
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(string(doc), "`--"+f.Name+"`") {
			t.Errorf("docs/manager.md does not document --%s", f.Name)
		}
	})
}
