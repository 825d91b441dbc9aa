package awsconfig

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

func TestPool(t *testing.T) {
	base := aws.Config{
		Region:      "us-east-1",
		Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider("AKIA", "x", "")),
		Retryer:     func() aws.Retryer { return NewRetryer(3, time.Second) },
	}
	p := NewPool(base, "")
	caller := Role{}
	role := Role{ARN: "arn:aws:iam::222222222222:role/Auditor"}

	a1, a2 := p.Config(caller, "eu-west-1"), p.Config(caller, "eu-west-1")
	if a1.Retryer() != a2.Retryer() {
		t.Error("two configurations of one (role, Region) do not share their retryer")
	}
	if b := p.Config(caller, "us-west-2"); b.Retryer() == a1.Retryer() {
		t.Error("two Regions share a retryer")
	}
	if c := p.Config(role, "eu-west-1"); c.Retryer() == a1.Retryer() {
		t.Error("two accounts share a retryer")
	}
	if a1.Region != "eu-west-1" || p.Config(caller, "").Region != "us-east-1" {
		t.Errorf("Regions %q, %q", a1.Region, p.Config(caller, "").Region)
	}
	if a1.Credentials != base.Credentials {
		t.Error("the caller's configuration does not use the base credentials")
	}
	r1, r2 := p.Config(role, "eu-west-1"), p.Config(role, "ap-south-1")
	if r1.Credentials == base.Credentials || r1.Credentials != r2.Credentials {
		t.Error("an assumed role must have its own credentials, shared by its Regions")
	}
	if p.Config(Role{ARN: role.ARN, ExternalID: "x"}, "eu-west-1").Credentials == r1.Credentials {
		t.Error("a different external id shares credentials")
	}
}
