package guard

import (
	"net/url"
	"testing"

	"github.com/breakwater-dev/breakwater/internal/guard/provider"
	"github.com/breakwater-dev/breakwater/internal/guard/provider/registry"
	"github.com/breakwater-dev/breakwater/internal/guardconfig"
)

func FuzzRoute(f *testing.F) {
	f.Add("/m/claude/model/anthropic.claude%3A0/converse")
	f.Add("/m/gpt/v1/chat/completions")
	f.Add("/r/docs/index/_search")
	f.Add("/m//")
	f.Fuzz(func(t *testing.T, path string) {
		kind, name, rest := splitRoute(path)
		if kind == "" && (name != "" || rest != "") {
			t.Fatal("no route but a name")
		}
		base, _ := url.Parse("https://bedrock-runtime.us-east-1.amazonaws.com")
		for _, p := range []guardconfig.Provider{guardconfig.OpenAI, guardconfig.Bedrock, guardconfig.SageMaker} {
			proto, err := registry.Model(p)
			if err != nil {
				t.Fatal(err)
			}
			if op, ok := proto.Route(rest); ok {
				u, _ := proto.Upstream(op, &provider.Target{Base: base, ModelID: rest, EndpointName: name}, "", nil)
				if _, err := url.Parse(u.String()); err != nil {
					t.Fatalf("upstream URL does not parse: %v", err)
				}
				if u.Host != base.Host {
					t.Fatalf("upstream host changed to %q", u.Host)
				}
			}
		}
	})
}
