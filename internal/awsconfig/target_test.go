package awsconfig

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func TestRoleARNPartitions(t *testing.T) {
	for _, tc := range []struct{ partition, want string }{
		{"aws", "arn:aws:iam::111122223333:role/Audit"},
		{"aws-us-gov", "arn:aws-us-gov:iam::111122223333:role/Audit"},
		{"aws-cn", "arn:aws-cn:iam::111122223333:role/Audit"},
	} {
		got, err := RoleARN(tc.partition, "111122223333", "Audit")
		if err != nil || got != tc.want {
			t.Errorf("RoleARN(%s) = %q, %v; want %q", tc.partition, got, err, tc.want)
		}
		acct, part, err := ParseRoleARN(got)
		if err != nil || acct != "111122223333" || part != tc.partition {
			t.Errorf("ParseRoleARN(%q) = %q, %q, %v", got, acct, part, err)
		}
	}
	if acct, _, err := ParseRoleARN("arn:aws-us-gov:iam::444455556666:role/path/x"); err != nil || acct != "444455556666" {
		t.Errorf("role with a path = %q, %v", acct, err)
	}
	for _, bad := range []string{"111122223333", "arn:aws:iam::1234:role/x", "arn:aws:iam::111122223333:user/x",
		"arn:aws:sts::111122223333:role/x", "arn:aws:iam:us-east-1:111122223333:role/x", "arn:aws:iam::111122223333:role/"} {
		if _, _, err := ParseRoleARN(bad); err == nil {
			t.Errorf("ParseRoleARN(%q) accepted", bad)
		}
	}
	if _, err := RoleARN("aws", "12345", "x"); err == nil {
		t.Error("short account accepted")
	}
	for _, bad := range []string{"", "a b", "a:b", "path/name"} {
		if _, err := RoleARN("aws", "111122223333", bad); err == nil {
			t.Errorf("role name %q accepted", bad)
		}
	}
}

type fakeIdentity struct{ arn, account string }

func (f fakeIdentity) GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	return &sts.GetCallerIdentityOutput{Arn: aws.String(f.arn), Account: aws.String(f.account)}, nil
}

func TestCallerRoleFor(t *testing.T) {
	c, err := Identify(context.Background(), fakeIdentity{"arn:aws-us-gov:sts::111111111111:assumed-role/Audit/me", "111111111111"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Partition() != PartitionGov {
		t.Fatalf("partition %q", c.Partition())
	}
	if r, err := c.RoleFor("111111111111", "Audit", "x"); err != nil || r != (Role{}) {
		t.Errorf("own account: %+v, %v; want the caller's credentials", r, err)
	}
	r, err := c.RoleFor("222222222222", "Audit", "ext")
	if err != nil || r.ARN != "arn:aws-us-gov:iam::222222222222:role/Audit" || r.ExternalID != "ext" {
		t.Errorf("other account: %+v, %v", r, err)
	}
	if _, err := c.RoleFor("222222222222", "", ""); !errors.Is(err, ErrNoRole) {
		t.Errorf("no role name: %v, want ErrNoRole", err)
	}
	if _, err := Identify(context.Background(), fakeIdentity{"not-an-arn", "1"}); err == nil {
		t.Error("an answer without an ARN was accepted")
	}
}

func TestPartitionOfRegion(t *testing.T) {
	for region, want := range map[string]string{
		"us-east-1": "aws", "eu-west-1": "aws", "us-gov-west-1": "aws-us-gov", "cn-north-1": "aws-cn",
		"cn-northwest-1": "aws-cn", "us-iso-east-1": "aws-iso", "us-isob-east-1": "aws-iso-b",
	} {
		if got := PartitionOfRegion(region); got != want {
			t.Errorf("PartitionOfRegion(%s) = %s, want %s", region, got, want)
		}
		if got := PartitionOfRegion(HomeRegion(want)); got != want && (want == "aws" || want == "aws-us-gov" || want == "aws-cn") {
			t.Errorf("HomeRegion(%s) = %s is in %s", want, HomeRegion(want), got)
		}
	}
}
