package guard

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestForwardHeadersDropsCredentials(t *testing.T) {
	in := map[string][]string{
		"Authorization": {"AWS4-HMAC-SHA256 Credential=APP"}, "X-Amz-Date": {"x"}, "X-Amz-Security-Token": {"t"},
		"X-Api-Key": {"k"}, "Api-Key": {"k"}, "Cookie": {"c"}, "Amz-Sdk-Request": {"attempt=1"}, "Connection": {"close"},
		"Content-Type": {"application/json"}, "X-Amzn-Bedrock-Trace": {"ENABLED"}, "Accept-Encoding": {"gzip"},
	}
	got := forwardHeaders(in)
	want := map[string][]string{"Content-Type": {"application/json"}, "X-Amzn-Bedrock-Trace": {"ENABLED"}, "Accept-Encoding": {"identity"}}
	if diff := cmp.Diff(want, map[string][]string(got)); diff != "" {
		t.Errorf("forwarded headers (-want +got):\n%s", diff)
	}
}
