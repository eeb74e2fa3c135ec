package guard

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestTrimArray(t *testing.T) {
	tests := []struct {
		in, path string
		limit    int
		want     string
		ok       bool
	}{
		{`{"hits":{"total":3,"hits":[1,2,3]}}`, "hits.hits", 2, `{"hits":{"hits":[1,2],"total":3}}`, true},
		{`{"hits":{"hits":[1]}}`, "hits.hits", 2, "", false},
		{`{"results":"nope"}`, "results", 1, "", false},
		{`[1,2]`, "results", 1, "", false},
	}
	for _, tt := range tests {
		got, ok := trimArray([]byte(tt.in), strings.Split(tt.path, "."), tt.limit)
		if ok != tt.ok || string(got) != tt.want {
			t.Errorf("trimArray(%s) = %s, %v; want %s, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzTrimArray(f *testing.F) {
	f.Add([]byte(`{"hits":{"hits":[{"_id":"1"},{"_id":"2"},{"_id":"3"}]}}`), "hits.hits", 2)
	f.Add([]byte(`{"results":[1,2,3]}`), "results", 0)
	f.Add([]byte(`{"a":{"b":{"c":[[],[],{}]}}}`), "a.b.c", 1)
	f.Fuzz(func(t *testing.T, data []byte, path string, limit int) {
		if limit < 0 || limit > 1000 {
			return
		}
		out, ok := trimArray(data, strings.Split(path, "."), limit)
		if ok && !json.Valid(out) {
			t.Fatalf("trimArray produced invalid JSON %q", out)
		}
	})
}
