package sim

import (
	"net/http"
	"strings"
)

// sigScope is what the server takes from a SigV4 signature: the access key
// and the credential scope. The signature itself is not verified.
type sigScope struct {
	accessKey string
	date      string
	region    string
	service   string
}

// parseAuth reads the SigV4 credential from the Authorization header
// ("AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/ec2/aws4_request,
// SignedHeaders=…, Signature=…") or from a presigned URL's X-Amz-Credential.
func parseAuth(r *http.Request) (sigScope, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		rest, ok := strings.CutPrefix(h, "AWS4-HMAC-SHA256")
		if !ok {
			return sigScope{}, false
		}
		for _, part := range strings.Split(rest, ",") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(part), "Credential="); ok {
				return parseCredential(v)
			}
		}
		return sigScope{}, false
	}
	if v := r.URL.Query().Get("X-Amz-Credential"); v != "" {
		return parseCredential(v)
	}
	return sigScope{}, false
}

// parseCredential splits "AKID/20260101/us-east-1/ec2/aws4_request".
func parseCredential(v string) (sigScope, bool) {
	p := strings.Split(v, "/")
	if len(p) != 5 || p[0] == "" || p[2] == "" || p[4] != "aws4_request" {
		return sigScope{}, false
	}
	return sigScope{accessKey: p[0], date: p[1], region: p[2], service: p[3]}, true
}
