package awsconfig

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// TestAssumeRoleRenewsBeforeExpiry: credentials about to expire are not
// handed out again; the role is assumed anew, while fresh ones are reused.
func TestAssumeRoleRenewsBeforeExpiry(t *testing.T) {
	tests := []struct {
		name      string
		lifetime  time.Duration
		wantCalls int64
	}{
		{"fresh credentials are cached", time.Hour, 1},
		{"credentials inside the expiry window are renewed", AssumeRoleExpiryWindow / 2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := calls.Add(1)
				exp := time.Now().Add(tt.lifetime).UTC().Format(time.RFC3339)
				w.Header().Set("Content-Type", "text/xml")
				fmt.Fprintf(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>
<Credentials><AccessKeyId>ASIA%d</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>%s</Expiration></Credentials>
<AssumedRoleUser><Arn>arn:aws:sts::222222222222:assumed-role/Auditor/x</Arn><AssumedRoleId>AROA:x</AssumedRoleId></AssumedRoleUser>
</AssumeRoleResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></AssumeRoleResponse>`, n, exp)
			}))
			defer srv.Close()
			base := aws.Config{
				Region:       "us-east-1",
				BaseEndpoint: aws.String(srv.URL),
				Credentials:  aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider("AKIA", "x", "")),
			}
			creds := AssumeRole(base, "arn:aws:iam::222222222222:role/Auditor", "test", "").Credentials
			for range 2 {
				if _, err := creds.Retrieve(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			if got := calls.Load(); got != tt.wantCalls {
				t.Errorf("%d AssumeRole calls for two uses, want %d", got, tt.wantCalls)
			}
		})
	}
}
