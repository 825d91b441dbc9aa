package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/imdsfleet/imdsfleet/internal/awsconfig"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
)

// TestScanOrgMoto: scan --org and --ou against moto's Organizations, an
// implementation nobody here wrote: an organization made with
// CreateOrganization, member accounts with CreateAccount (one moved into an
// OU, one closed, which moto leaves SUSPENDED), instances launched in each
// member through AssumeRole. The scan finds exactly the ACTIVE accounts
// and lists the closed one as skipped. moto's paging differs from AWS's
// (pages of 100, MaxResults above 20 accepted, ListChildren unpaged; see
// docs/aws-facts.md#organizations), so paging is tested against the
// simulated AWS only.
func TestScanOrgMoto(t *testing.T) {
	url := startMoto(t, "the organization-against-moto test")
	const key, region = "AKIAMOTOORG000000001", "us-east-1"
	for _, kv := range simtest.Env(url, key, region) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("AWS_PROFILE", "")
	ctx := context.Background()
	cfg := simtest.Config(url, key, region)
	org := organizations.NewFromConfig(cfg)
	created, err := org.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll})
	if err != nil || created.Organization == nil || aws.ToString(created.Organization.Id) == "" {
		t.Fatalf("moto CreateOrganization: %v", err)
	}
	roots, err := org.ListRoots(ctx, &organizations.ListRootsInput{})
	if err != nil || len(roots.Roots) != 1 {
		t.Fatalf("moto ListRoots: %v %+v", err, roots)
	}
	ou, err := org.CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{ParentId: roots.Roots[0].Id, Name: aws.String("Prod")})
	if err != nil {
		t.Fatalf("moto CreateOrganizationalUnit: %v", err)
	}
	var members []string
	for i := range 4 {
		out, err := org.CreateAccount(ctx, &organizations.CreateAccountInput{
			AccountName: aws.String(fmt.Sprintf("member-%d", i)), Email: aws.String(fmt.Sprintf("m%d@example.com", i)),
		})
		if err != nil {
			t.Fatalf("moto CreateAccount: %v", err)
		}
		members = append(members, aws.ToString(out.CreateAccountStatus.AccountId))
	}
	inOU, closed := members[1], members[3]
	if _, err := org.MoveAccount(ctx, &organizations.MoveAccountInput{AccountId: aws.String(inOU), SourceParentId: roots.Roots[0].Id, DestinationParentId: ou.OrganizationalUnit.Id}); err != nil {
		t.Fatalf("moto MoveAccount: %v", err)
	}
	if _, err := org.CloseAccount(ctx, &organizations.CloseAccountInput{AccountId: aws.String(closed)}); err != nil {
		t.Fatalf("moto CloseAccount: %v", err)
	}

	// Two instances in each ACTIVE member, through the role the scan uses.
	const role = "OrganizationAccountAccessRole"
	for _, m := range members[:3] {
		arn, err := awsconfig.RoleARN("aws", m, role)
		if err != nil {
			t.Fatal(err)
		}
		ec := awsconfig.EC2(awsconfig.AssumeRole(cfg, arn, "setup", ""), region)
		if _, err := ec.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-12c6146b"), MinCount: aws.Int32(2), MaxCount: aws.Int32(2), InstanceType: ec2types.InstanceTypeT3Micro}); err != nil {
			t.Fatalf("moto RunInstances in %s: %v", m, err)
		}
	}

	// The organization each scan's report names (read from the ARNs the
	// walk lists; moto builds them as AWS does).
	wantOrg := aws.ToString(created.Organization.Id) + " managed by " + aws.ToString(created.Organization.MasterAccountId)
	scanned := func(args ...string) (map[string]int, []string) {
		t.Helper()
		res := scanCLI(t, false, append([]string{"scan", "--regions", region, "--role-name", role, "--cloudwatch-protocol", "json", "--no-launch-sources", "--format", "json"}, args...)...)
		if res.code != exitOK {
			t.Fatalf("scan %v: exit %d\nstderr: %s", args, res.code, res.err)
		}
		r := readReport(t, []byte(res.out))
		if r.Organization == nil || r.Organization.ID+" managed by "+r.Organization.ManagementAccount != wantOrg {
			t.Errorf("scan %v: report names organization %+v, want %s", args, r.Organization, wantOrg)
		}
		perAccount := map[string]int{}
		for _, tg := range r.Targets {
			perAccount[tg.Account] += tg.Instances
		}
		var skipped []string
		for _, s := range r.SkippedAccounts {
			skipped = append(skipped, s.Account+":"+s.State)
		}
		return perAccount, skipped
	}
	perAccount, skipped := scanned("--org")
	for _, m := range members[:3] {
		if perAccount[m] != 2 {
			t.Errorf("member %s: %d instances scanned, want 2 (accounts %v)", m, perAccount[m], perAccount)
		}
	}
	if _, ok := perAccount[closed]; ok {
		t.Errorf("the closed account %s was scanned", closed)
	}
	if !slices.Equal(skipped, []string{closed + ":SUSPENDED"}) {
		t.Errorf("skipped %v, want the closed account (SUSPENDED in moto)", skipped)
	}
	// The management account (the caller) is scanned with its own keys.
	if len(perAccount) != 4 {
		t.Errorf("scanned accounts %v, want the management account and the 3 ACTIVE members", slices.Sorted(maps.Keys(perAccount)))
	}

	perAccount, _ = scanned("--ou", aws.ToString(ou.OrganizationalUnit.Id))
	if got := slices.Sorted(maps.Keys(perAccount)); !slices.Equal(got, []string{inOU}) || perAccount[inOU] != 2 {
		t.Errorf("--ou scanned %v, want only %s with 2 instances", perAccount, inOU)
	}
}
