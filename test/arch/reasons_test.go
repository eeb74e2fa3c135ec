package arch

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/breakwater-dev/breakwater/test/testenv"
)

// reasonPages says which kinds' conditions and Events carry each reason, so which docs/<kind>.md
// pages must document it. A user's alerting and GitOps health checks read these words.
var reasonPages = map[string][]string{
	"ReasonReconciled":              {"failoverpolicy", "genaiworkload", "modelendpoint", "retrievalbackend", "tokenquota"},
	"ReasonEndpointNotFound":        {"failoverpolicy", "genaiworkload", "tokenquota"},
	"ReasonBackendNotFound":         {"genaiworkload"},
	"ReasonWorkloadNotFound":        {"genaiworkload"},
	"ReasonConfigInvalid":           {"genaiworkload"},
	"ReasonTargetNotFound":          {"failoverpolicy"},
	"ReasonMetricsUnavailable":      {"failoverpolicy", "tokenquota"},
	"ReasonAllTargetsAvailable":     {"modelendpoint"},
	"ReasonTargetsUnavailable":      {"modelendpoint"},
	"ReasonStaticLimit":             {"tokenquota"},
	"ReasonServiceQuotaPending":     {"tokenquota"},
	"ReasonUsageMeasured":           {"tokenquota"},
	"ReasonServiceQuotaRead":        {"tokenquota"},
	"ReasonServiceQuotaUnavailable": {"tokenquota"},
	"ReasonInvalidLimit":            {"tokenquota"},
	"ReasonMetricsRead":             {"failoverpolicy"},
	"ReasonTargetsServed":           {"failoverpolicy"},
	"ReasonTargetNotServed":         {"failoverpolicy"},
	"ReasonValidationUnavailable":   {"failoverpolicy"},
	"ReasonShedRecorded":            {"genaiworkload"},
	"ReasonRestoreRecorded":         {"genaiworkload"},
	"ReasonShedReverted":            {"genaiworkload"},
	"ReasonQuotaDeleted":            {"genaiworkload"},
	// Admission at the request (TokenQuota condition AdmissionStoreAvailable and Events).
	"ReasonStoreAnswering":      {"tokenquota"},
	"ReasonStoreUnavailable":    {"tokenquota"},
	"ReasonLearnedLimitLowered": {"tokenquota"},
	"ReasonLearnedLimitRaised":  {"tokenquota"},
	// The quota state (TokenQuota status and Events).
	"ReasonWithinLimits":         {"tokenquota"},
	"ReasonWarnThresholdReached": {"tokenquota"},
	"ReasonProjectedOverBudget":  {"tokenquota"},
	"ReasonShedThresholdReached": {"tokenquota"},
	"ReasonHardLimitReached":     {"tokenquota"},
	"ReasonRecovering":           {"tokenquota"},
	"ReasonLimitUnresolved":      {"tokenquota"},
	// The failover plan (FailoverPolicy FailedOver and lastShift); Steady is also the scale plan's.
	"ReasonSteady":           {"failoverpolicy", "tokenquota"},
	"ReasonThrottleRateHigh": {"failoverpolicy"},
	"ReasonErrorRateHigh":    {"failoverpolicy"},
	"ReasonLatencyHigh":      {"failoverpolicy"},
	"ReasonQuotaHigh":        {"failoverpolicy"},
	"ReasonFailback":         {"failoverpolicy"},
	"ReasonFailbackPending":  {"failoverpolicy"},
	"ReasonNoHealthyTarget":  {"failoverpolicy"},
	"ReasonCooldown":         {"failoverpolicy"},
	// The scale plan (GenAIWorkload Shed, TokenQuota Events).
	"ReasonShedForQuota":          {"genaiworkload", "tokenquota"},
	"ReasonShedForExhaustedQuota": {"genaiworkload", "tokenquota"},
	"ReasonRestored":              {"genaiworkload", "tokenquota"},
	"ReasonCriticalRestored":      {"genaiworkload", "tokenquota"},
	"ReasonClampOnly":             {"tokenquota"},
	"ReasonShedPending":           {"tokenquota"},
	"ReasonRestorePending":        {"tokenquota"},
}

// managerPackages are where the manager decides and writes conditions, Events and lastShift.
var managerPackages = []string{"controllers", "internal/policy", "internal/render", "internal/manager", "internal/webhook"}

// ownReason matches the name of a constant that would be a reason or condition type of its own.
var ownReason = regexp.MustCompile(`^(?i:reason|condition)[A-Z]`)

// TestReasonsAreDeclaredAndDocumented: every reason the manager can write is a constant of
// api/v1alpha1 (no reason is a literal or a constant of its own in the manager's packages), and
// each is documented in the pages of the kinds that carry it.
func TestReasonsAreDeclaredAndDocumented(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	declared := apiConstants(t, filepath.Join(root, "api", "v1alpha1", "conditions.go"))
	used := map[string]bool{}
	fset := token.NewFileSet()
	for _, dir := range managerPackages {
		files, _ := filepath.Glob(filepath.Join(root, dir, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			file, err := parser.ParseFile(fset, f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			rel, _ := filepath.Rel(root, f)
			ast.Inspect(file, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.SelectorExpr:
					if strings.HasPrefix(n.Sel.Name, "Reason") {
						if _, ok := declared[n.Sel.Name]; ok {
							used[n.Sel.Name] = true
						}
					}
				case *ast.GenDecl:
					if n.Tok != token.CONST {
						break
					}
					for _, spec := range n.Specs {
						for _, name := range spec.(*ast.ValueSpec).Names {
							if ownReason.MatchString(name.Name) {
								t.Errorf("%s: %s declares a condition type or reason; declare it in api/v1alpha1/conditions.go", rel, name.Name)
							}
						}
					}
				case *ast.KeyValueExpr:
					if k, ok := n.Key.(*ast.Ident); ok && (k.Name == "Reason" || k.Name == "Type") {
						if lit, ok := n.Value.(*ast.BasicLit); ok && lit.Kind == token.STRING {
							t.Errorf("%s: %s %s is a literal; use a constant of api/v1alpha1", fset.Position(n.Pos()), k.Name, lit.Value)
						}
					}
				case *ast.CallExpr:
					// recorder.Eventf(obj, related, type, reason, action, note, ...)
					if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Eventf" && len(n.Args) > 3 {
						if lit, ok := n.Args[3].(*ast.BasicLit); ok {
							t.Errorf("%s: Event reason %s is a literal; use a constant of api/v1alpha1", fset.Position(n.Pos()), lit.Value)
						}
					}
				}
				return true
			})
		}
	}
	if len(used) < 20 {
		t.Fatalf("found only %d reasons in the manager's packages: the scan is broken", len(used))
	}
	pages := map[string]string{}
	for name := range used {
		kinds, ok := reasonPages[name]
		if !ok {
			t.Errorf("%s (%q) is written by the manager but reasonPages does not say which kinds carry it", name, declared[name])
			continue
		}
		for _, kind := range kinds {
			if _, ok := pages[kind]; !ok {
				data, err := os.ReadFile(filepath.Join(root, "docs", kind+".md"))
				if err != nil {
					t.Fatal(err)
				}
				pages[kind] = string(data)
			}
			if !regexp.MustCompile(`\b` + declared[name] + `\b`).MatchString(pages[kind]) {
				t.Errorf("reason %s is not documented in docs/%s.md", declared[name], kind)
			}
		}
	}
	for name := range reasonPages {
		if _, ok := declared[name]; !ok {
			t.Errorf("reasonPages names %s, which api/v1alpha1 does not declare", name)
		}
	}
}

// apiConstants reads the string constants of an api/v1alpha1 file: name → value.
func apiConstants(t *testing.T, path string) map[string]string {
	t.Helper()
	file, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, decl := range file.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if i < len(vs.Values) {
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok {
						v, _ := strconv.Unquote(lit.Value)
						out[name.Name] = v
					}
				}
			}
		}
	}
	if _, ok := out["ReasonReconciled"]; !ok {
		t.Fatalf("%s declares no ReasonReconciled", path)
	}
	return out
}
