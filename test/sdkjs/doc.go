// Package sdkjs runs the real Node SDKs (`@aws-sdk/client-bedrock-runtime`,
// `@aws-sdk/client-sagemaker-runtime`, `openai`; pinned in package-lock.json, installed by
// hack/npm-ci.sh into bin/sdkjs) with their default request handlers, which for the AWS clients
// means HTTP/2 with prior knowledge, through a real guard process in front of the upstream
// simulator, healthy and under each fault. run.cjs makes one call and prints what the app saw; the
// test checks it. Only the test lives here.
package sdkjs
