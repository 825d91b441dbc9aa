package sim_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/imdsfleet/imdsfleet/internal/awsconfig"
	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
)

func TestCallerIdentityAndAssumeRole(t *testing.T) {
	s, url := simtest.Start(t, testFleet(2), sim.Options{})
	ctx := context.Background()
	cfg := simtest.Config(url, keyA, "us-east-1")

	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(id.Account) != acctA {
		t.Errorf("caller account = %s, want %s", aws.ToString(id.Account), acctA)
	}

	// An unknown key is the first account; B's default key is B.
	id, err = sts.NewFromConfig(simtest.Config(url, fleet.DefaultAccessKeyID(acctB), "us-east-1")).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(id.Account) != acctB {
		t.Errorf("default key of B: account = %s", aws.ToString(id.Account))
	}

	assumed := awsconfig.AssumeRole(cfg, "arn:aws:iam::"+acctB+":role/scanner", "imdsfleet", "")
	id, err = sts.NewFromConfig(assumed).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(id.Account) != acctB || aws.ToString(id.Arn) != "arn:aws:sts::"+acctB+":assumed-role/scanner/imdsfleet" {
		t.Errorf("assumed identity = %s %s", aws.ToString(id.Account), aws.ToString(id.Arn))
	}
	out, err := ec2.NewFromConfig(assumed).DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	if err != nil {
		t.Fatal(err)
	}
	ids := instanceIDs(out.Reservations)
	if len(ids) != 1 || ids[0] != "i-0bbbbbbbbbbbbbbb1" || aws.ToString(out.Reservations[0].OwnerId) != acctB {
		t.Errorf("B's instances = %v", ids)
	}
	if calls := s.Stats().Calls["AssumeRole"][""]; calls != 1 {
		t.Errorf("AssumeRole calls = %d, want 1 (credentials cached)", calls)
	}

	for _, tc := range []struct{ name, arn, code string }{
		{"unknown account", "arn:aws:iam::999999999999:role/scanner", "AccessDenied"},
		{"role not listed", "arn:aws:iam::" + acctB + ":role/admin", "AccessDenied"},
		{"malformed", "role/scanner", "ValidationError"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sts.NewFromConfig(cfg).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(tc.arn), RoleSessionName: aws.String("x")})
			if got := apiCode(t, err); got != tc.code {
				t.Errorf("code = %s, want %s", got, tc.code)
			}
		})
	}
}
