package provider

import "testing"

func TestAWSEscape(t *testing.T) {
	if got, want := AWSEscape("arn:aws:bedrock:us-east-1:1:inference-profile/us.x-y_z~"), "arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fus.x-y_z~"; got != want {
		t.Errorf("AWSEscape = %s, want %s", got, want)
	}
}
