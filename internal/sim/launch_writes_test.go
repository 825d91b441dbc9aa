package sim_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
)

// noRetryEC2 is an EC2 client that sends each call once, so that a test
// sees the first answer (a throttle, a fault) and counts calls exactly.
func noRetryEC2(url, key, region string) *ec2.Client {
	cfg := simtest.Config(url, key, region)
	cfg.Retryer = func() aws.Retryer { return aws.NopRetryer{} }
	return ec2.NewFromConfig(cfg)
}

// sourceCalls returns the server's records of api calls.
func sourceCalls(s *sim.Server, api string) []sim.SourceCall {
	var out []sim.SourceCall
	for _, c := range s.SourceCalls() {
		if c.API == api {
			out = append(out, c)
		}
	}
	return out
}

func templateVersions(t *testing.T, s *sim.Server, idOrName string) (numbers []int64, def, latest int64) {
	t.Helper()
	lt, ok := s.LaunchTemplate(acctA, "us-east-1", idOrName)
	if !ok {
		t.Fatalf("template %s not in the server", idOrName)
	}
	for _, v := range lt.Versions {
		numbers = append(numbers, v.Number)
	}
	return numbers, lt.Default(), lt.Latest()
}

func TestCreateLaunchTemplateVersion(t *testing.T) {
	s, url := simtest.Start(t, launchFleet(2, 0, 0), sim.Options{})
	c := ec2Client(t, url, keyA, "us-east-1")
	ctx := context.Background()
	required := &types.LaunchTemplateInstanceMetadataOptionsRequest{HttpTokens: types.LaunchTemplateHttpTokensStateRequired, HttpPutResponseHopLimit: aws.Int32(1)}

	t.Run("dry run changes nothing", func(t *testing.T) {
		_, err := c.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{DryRun: aws.Bool(true),
			LaunchTemplateId: aws.String(ltID(1)), SourceVersion: aws.String("2"),
			LaunchTemplateData: &types.RequestLaunchTemplateData{MetadataOptions: required}})
		if apiCode(t, err) != "DryRunOperation" {
			t.Fatalf("dry run: %v", err)
		}
		if n, _, latest := templateVersions(t, s, ltID(1)); len(n) != 3 || latest != 4 {
			t.Errorf("after a dry run: versions %v, latest %d", n, latest)
		}
		calls := sourceCalls(s, "CreateLaunchTemplateVersion")
		if len(calls) != 1 || !calls[0].DryRun || calls[0].Outcome != "DryRunOperation" || calls[0].Params["SourceVersion"] != "2" {
			t.Errorf("recorded %+v", calls)
		}
	})

	t.Run("from a source version", func(t *testing.T) {
		out, err := c.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{
			LaunchTemplateId: aws.String(ltID(1)), SourceVersion: aws.String("2"), VersionDescription: aws.String("imdsv2"),
			LaunchTemplateData: &types.RequestLaunchTemplateData{MetadataOptions: required}})
		if err != nil {
			t.Fatal(err)
		}
		v := out.LaunchTemplateVersion
		if aws.ToInt64(v.VersionNumber) != 5 || aws.ToBool(v.DefaultVersion) || aws.ToString(v.VersionDescription) != "imdsv2" ||
			aws.ToString(v.LaunchTemplateName) != "tmpl-001" || aws.ToString(v.LaunchTemplateData.ImageId) != amiV2 {
			t.Errorf("answer %+v", v)
		}
		m := v.LaunchTemplateData.MetadataOptions
		if m == nil || m.HttpTokens != types.LaunchTemplateHttpTokensStateRequired || aws.ToInt32(m.HttpPutResponseHopLimit) != 1 {
			t.Errorf("metadata options %+v", m)
		}
		// A following scan sees it as $Latest; the default has not moved.
		lts, err := c.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateIds: []string{ltID(1)}})
		if err != nil || len(lts.LaunchTemplates) != 1 || aws.ToInt64(lts.LaunchTemplates[0].LatestVersionNumber) != 5 ||
			aws.ToInt64(lts.LaunchTemplates[0].DefaultVersionNumber) != 2 {
			t.Fatalf("DescribeLaunchTemplates: %v %+v", err, lts)
		}
		vs, err := c.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(ltID(1)), Versions: []string{"$Latest"}})
		if err != nil || len(vs.LaunchTemplateVersions) != 1 || aws.ToInt64(vs.LaunchTemplateVersions[0].VersionNumber) != 5 ||
			vs.LaunchTemplateVersions[0].LaunchTemplateData.MetadataOptions.HttpTokens != types.LaunchTemplateHttpTokensStateRequired {
			t.Fatalf("$Latest: %v %+v", err, vs)
		}
	})

	t.Run("given parameters replace the source's whole parameter", func(t *testing.T) {
		// Version 2 sets tokens optional and hop limit 1; a MetadataOptions
		// with only HttpTokens replaces both: the hop limit is no longer set.
		out, err := c.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{
			LaunchTemplateName: aws.String("tmpl-001"), SourceVersion: aws.String("2"),
			LaunchTemplateData: &types.RequestLaunchTemplateData{MetadataOptions: &types.LaunchTemplateInstanceMetadataOptionsRequest{HttpTokens: types.LaunchTemplateHttpTokensStateRequired}}})
		if err != nil {
			t.Fatal(err)
		}
		v := out.LaunchTemplateVersion
		if aws.ToInt64(v.VersionNumber) != 6 || aws.ToString(v.LaunchTemplateData.ImageId) != amiV2 ||
			v.LaunchTemplateData.MetadataOptions.HttpPutResponseHopLimit != nil {
			t.Errorf("answer %+v %+v", v, v.LaunchTemplateData.MetadataOptions)
		}
		// Without a source version, only the given parameters.
		out, err = c.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{
			LaunchTemplateId:   aws.String(ltID(1)),
			LaunchTemplateData: &types.RequestLaunchTemplateData{InstanceType: types.InstanceTypeM5Large}})
		if err != nil {
			t.Fatal(err)
		}
		if v := out.LaunchTemplateVersion; aws.ToInt64(v.VersionNumber) != 7 || v.LaunchTemplateData.ImageId != nil || v.LaunchTemplateData.MetadataOptions != nil {
			t.Errorf("without source: %+v", v.LaunchTemplateData)
		}
	})

	t.Run("client token", func(t *testing.T) {
		in := &ec2.CreateLaunchTemplateVersionInput{ClientToken: aws.String("fix-tmpl-002"),
			LaunchTemplateId: aws.String(ltID(2)), SourceVersion: aws.String("2"),
			LaunchTemplateData: &types.RequestLaunchTemplateData{MetadataOptions: required}}
		first, err := c.CreateLaunchTemplateVersion(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		again, err := c.CreateLaunchTemplateVersion(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if a, b := aws.ToInt64(first.LaunchTemplateVersion.VersionNumber), aws.ToInt64(again.LaunchTemplateVersion.VersionNumber); a != 5 || b != a {
			t.Errorf("versions %d then %d", a, b)
		}
		if n, _, _ := templateVersions(t, s, ltID(2)); len(n) != 4 {
			t.Errorf("versions %v: want one new version", n)
		}
		calls := sourceCalls(s, "CreateLaunchTemplateVersion")
		last := calls[len(calls)-1]
		if !last.Replayed || last.Outcome != "ok" || last.ClientToken != "fix-tmpl-002" || calls[len(calls)-2].Replayed {
			t.Errorf("recorded %+v", calls[len(calls)-2:])
		}
		other := *in
		other.SourceVersion = aws.String("1")
		if _, err := c.CreateLaunchTemplateVersion(ctx, &other); apiCode(t, err) != "IdempotentParameterMismatch" {
			t.Errorf("token reused for another request: %v", err)
		}
	})

	t.Run("errors", func(t *testing.T) {
		data := &types.RequestLaunchTemplateData{MetadataOptions: required}
		for _, tt := range []struct {
			name string
			in   ec2.CreateLaunchTemplateVersionInput
			code string
		}{
			{"unknown id", ec2.CreateLaunchTemplateVersionInput{LaunchTemplateId: aws.String(ltID(99)), LaunchTemplateData: data}, "InvalidLaunchTemplateId.NotFound"},
			{"malformed id", ec2.CreateLaunchTemplateVersionInput{LaunchTemplateId: aws.String("tmpl-001"), LaunchTemplateData: data}, "InvalidLaunchTemplateId.Malformed"},
			{"unknown name", ec2.CreateLaunchTemplateVersionInput{LaunchTemplateName: aws.String("nope"), LaunchTemplateData: data}, "InvalidLaunchTemplateName.NotFoundException"},
			{"deleted source version", ec2.CreateLaunchTemplateVersionInput{LaunchTemplateId: aws.String(ltID(1)), SourceVersion: aws.String("3"), LaunchTemplateData: data}, "InvalidLaunchTemplateId.VersionNotFound"},
			{"id and name", ec2.CreateLaunchTemplateVersionInput{LaunchTemplateId: aws.String(ltID(1)), LaunchTemplateName: aws.String("tmpl-001"), LaunchTemplateData: data}, "InvalidParameterCombination"},
			{"neither", ec2.CreateLaunchTemplateVersionInput{LaunchTemplateData: data}, "MissingParameter"},
			{"bad tokens value", ec2.CreateLaunchTemplateVersionInput{LaunchTemplateId: aws.String(ltID(1)),
				LaunchTemplateData: &types.RequestLaunchTemplateData{MetadataOptions: &types.LaunchTemplateInstanceMetadataOptionsRequest{HttpTokens: "sometimes"}}}, "InvalidParameterValue"},
			{"hop limit 65", ec2.CreateLaunchTemplateVersionInput{LaunchTemplateId: aws.String(ltID(1)),
				LaunchTemplateData: &types.RequestLaunchTemplateData{MetadataOptions: &types.LaunchTemplateInstanceMetadataOptionsRequest{HttpPutResponseHopLimit: aws.Int32(65)}}}, "InvalidParameterValue"},
			{"a parameter the sim does not hold", ec2.CreateLaunchTemplateVersionInput{LaunchTemplateId: aws.String(ltID(1)),
				LaunchTemplateData: &types.RequestLaunchTemplateData{KeyName: aws.String("k")}}, "InvalidParameterValue"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				before, _, _ := templateVersions(t, s, ltID(1))
				if _, err := c.CreateLaunchTemplateVersion(ctx, &tt.in); apiCode(t, err) != tt.code {
					t.Errorf("got %v, want %s", err, tt.code)
				}
				if after, _, _ := templateVersions(t, s, ltID(1)); len(after) != len(before) {
					t.Errorf("a failed call added a version: %v -> %v", before, after)
				}
			})
		}
	})
}

func TestModifyLaunchTemplate(t *testing.T) {
	s, url := simtest.Start(t, launchFleet(2, 0, 0), sim.Options{})
	c := ec2Client(t, url, keyA, "us-east-1")
	ctx := context.Background()
	if _, err := c.ModifyLaunchTemplate(ctx, &ec2.ModifyLaunchTemplateInput{DryRun: aws.Bool(true), LaunchTemplateId: aws.String(ltID(1)), DefaultVersion: aws.String("4")}); apiCode(t, err) != "DryRunOperation" {
		t.Fatalf("dry run: %v", err)
	}
	if _, def, _ := templateVersions(t, s, ltID(1)); def != 2 {
		t.Fatalf("a dry run moved the default to %d", def)
	}
	out, err := c.ModifyLaunchTemplate(ctx, &ec2.ModifyLaunchTemplateInput{LaunchTemplateName: aws.String("tmpl-001"), DefaultVersion: aws.String("4"), ClientToken: aws.String("t1")})
	if err != nil {
		t.Fatal(err)
	}
	if lt := out.LaunchTemplate; aws.ToInt64(lt.DefaultVersionNumber) != 4 || aws.ToInt64(lt.LatestVersionNumber) != 4 || aws.ToString(lt.LaunchTemplateId) != ltID(1) {
		t.Errorf("answer %+v", lt)
	}
	vs, err := c.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(ltID(1)), Versions: []string{"$Default"}})
	if err != nil || len(vs.LaunchTemplateVersions) != 1 || aws.ToInt64(vs.LaunchTemplateVersions[0].VersionNumber) != 4 || !aws.ToBool(vs.LaunchTemplateVersions[0].DefaultVersion) {
		t.Fatalf("$Default after the change: %v %+v", err, vs)
	}
	// The same token again: the same answer, nothing changed (the default
	// was moved back since, and stays there).
	if _, err := c.ModifyLaunchTemplate(ctx, &ec2.ModifyLaunchTemplateInput{LaunchTemplateId: aws.String(ltID(1)), DefaultVersion: aws.String("2")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ModifyLaunchTemplate(ctx, &ec2.ModifyLaunchTemplateInput{LaunchTemplateName: aws.String("tmpl-001"), DefaultVersion: aws.String("4"), ClientToken: aws.String("t1")}); err != nil {
		t.Fatal(err)
	}
	if _, def, _ := templateVersions(t, s, ltID(1)); def != 2 {
		t.Errorf("a replayed token moved the default to %d", def)
	}
	calls := sourceCalls(s, "ModifyLaunchTemplate")
	if len(calls) != 4 || !calls[3].Replayed || calls[1].Replayed || calls[1].Params["SetDefaultVersion"] != "4" {
		t.Errorf("recorded %+v", calls)
	}
	for _, tt := range []struct {
		name string
		in   ec2.ModifyLaunchTemplateInput
		code string
	}{
		{"deleted version", ec2.ModifyLaunchTemplateInput{LaunchTemplateId: aws.String(ltID(1)), DefaultVersion: aws.String("3")}, "InvalidLaunchTemplateId.VersionNotFound"},
		{"alias", ec2.ModifyLaunchTemplateInput{LaunchTemplateId: aws.String(ltID(1)), DefaultVersion: aws.String("$Latest")}, "InvalidLaunchTemplateId.VersionNotFound"},
		{"unknown template", ec2.ModifyLaunchTemplateInput{LaunchTemplateId: aws.String(ltID(9)), DefaultVersion: aws.String("1")}, "InvalidLaunchTemplateId.NotFound"},
		{"unknown name", ec2.ModifyLaunchTemplateInput{LaunchTemplateName: aws.String("x-y-z"), DefaultVersion: aws.String("1")}, "InvalidLaunchTemplateName.NotFoundException"},
		{"token reused", ec2.ModifyLaunchTemplateInput{LaunchTemplateName: aws.String("tmpl-001"), DefaultVersion: aws.String("1"), ClientToken: aws.String("t1")}, "IdempotentParameterMismatch"},
	} {
		if _, err := c.ModifyLaunchTemplate(ctx, &tt.in); apiCode(t, err) != tt.code {
			t.Errorf("%s: got %v, want %s", tt.name, err, tt.code)
		}
	}
	if _, def, _ := templateVersions(t, s, ltID(1)); def != 2 {
		t.Errorf("failed calls moved the default to %d", def)
	}
}

func TestModifyInstanceMetadataDefaults(t *testing.T) {
	s, url := simtest.Start(t, launchFleet(0, 0, 0), sim.Options{})
	c := ec2Client(t, url, keyA, "us-east-1")
	ctx := context.Background()
	get := func(c *ec2.Client) *types.InstanceMetadataDefaultsResponse {
		t.Helper()
		out, err := c.GetInstanceMetadataDefaults(ctx, &ec2.GetInstanceMetadataDefaultsInput{})
		if err != nil {
			t.Fatal(err)
		}
		return out.AccountLevel
	}
	if _, err := c.ModifyInstanceMetadataDefaults(ctx, &ec2.ModifyInstanceMetadataDefaultsInput{DryRun: aws.Bool(true), HttpTokens: types.MetadataDefaultHttpTokensStateRequired}); apiCode(t, err) != "DryRunOperation" {
		t.Fatalf("dry run: %v", err)
	}
	if d := get(c); d.HttpTokens != "" {
		t.Fatalf("a dry run set %+v", d)
	}
	out, err := c.ModifyInstanceMetadataDefaults(ctx, &ec2.ModifyInstanceMetadataDefaultsInput{HttpTokens: types.MetadataDefaultHttpTokensStateRequired,
		HttpPutResponseHopLimit: aws.Int32(2), HttpTokensEnforced: types.DefaultHttpTokensEnforcedStateEnabled})
	if err != nil || !aws.ToBool(out.Return) {
		t.Fatalf("modify: %v %+v", err, out)
	}
	if d := get(c); d.HttpTokens != "required" || aws.ToInt32(d.HttpPutResponseHopLimit) != 2 || d.HttpTokensEnforced != "enabled" || d.HttpEndpoint != "" {
		t.Errorf("after the change: %+v", d)
	}
	// no-preference clears a field; fields left out keep their value.
	if _, err := c.ModifyInstanceMetadataDefaults(ctx, &ec2.ModifyInstanceMetadataDefaultsInput{HttpPutResponseHopLimit: aws.Int32(-1),
		HttpTokensEnforced: types.DefaultHttpTokensEnforcedStateNoPreference, InstanceMetadataTags: types.DefaultInstanceMetadataTagsStateEnabled}); err != nil {
		t.Fatal(err)
	}
	if d := get(c); d.HttpTokens != "required" || d.HttpPutResponseHopLimit != nil || d.HttpTokensEnforced != "" || d.InstanceMetadataTags != "enabled" {
		t.Errorf("after no-preference: %+v", d)
	}
	if got, ok := s.MetadataDefaults(acctA, "us-east-1"); !ok || got.HttpTokens != "required" || got.InstanceMetadataTags != "enabled" {
		t.Errorf("MetadataDefaults %+v %v", got, ok)
	}
	for _, in := range []ec2.ModifyInstanceMetadataDefaultsInput{
		{HttpTokens: "sometimes"}, {HttpPutResponseHopLimit: aws.Int32(0)}, {HttpPutResponseHopLimit: aws.Int32(65)}, {HttpEndpoint: "on"},
	} {
		if _, err := c.ModifyInstanceMetadataDefaults(ctx, &in); apiCode(t, err) != "InvalidParameterValue" {
			t.Errorf("%+v: %v", in, err)
		}
	}

	// eu-west-1's defaults are managed by a declarative policy: refused,
	// dry run or not, with the policy's message; nothing changes.
	eu := ec2Client(t, url, keyA, "eu-west-1")
	for _, dry := range []bool{true, false} {
		_, err := eu.ModifyInstanceMetadataDefaults(ctx, &ec2.ModifyInstanceMetadataDefaultsInput{DryRun: aws.Bool(dry), HttpTokens: types.MetadataDefaultHttpTokensStateOptional})
		if apiCode(t, err) != "UnauthorizedOperation" || !strings.Contains(err.Error(), "declarative policy") || !strings.Contains(err.Error(), "ask security") {
			t.Errorf("declarative policy, dry run %v: %v", dry, err)
		}
	}
	if d := get(eu); d.HttpTokens != "required" || d.ManagedBy != types.ManagedByDeclarativePolicy {
		t.Errorf("declarative defaults changed: %+v", d)
	}
}

// TestLaunchSourceWriteKnobs: each write operation has its own token
// bucket at AWS's rate, answers the deny switches and injected faults like
// the reads, and a change whose answer was lost is not made twice when the
// call is repeated with its client token.
func TestLaunchSourceWriteKnobs(t *testing.T) {
	ctx := context.Background()
	on := true

	t.Run("buckets", func(t *testing.T) {
		f := launchFleet(1, 0, 0)
		f.Knobs.Throttle = &on
		clock := simtest.NewClock(clock)
		_, url := simtest.Start(t, f, sim.Options{Wall: clock.Now})
		c := noRetryEC2(url, keyA, "us-east-1")
		// ModifyInstanceMetadataDefaults: a bucket of 2, refilled at 2/s.
		for i := range 3 {
			_, err := c.ModifyInstanceMetadataDefaults(ctx, &ec2.ModifyInstanceMetadataDefaultsInput{HttpTokens: types.MetadataDefaultHttpTokensStateRequired})
			if i < 2 && err != nil || i == 2 && apiCode(t, err) != "RequestLimitExceeded" {
				t.Fatalf("defaults call %d: %v", i+1, err)
			}
		}
		// ModifyLaunchTemplate: 50, its own bucket.
		for i := range 51 {
			_, err := c.ModifyLaunchTemplate(ctx, &ec2.ModifyLaunchTemplateInput{LaunchTemplateId: aws.String(ltID(1)), DefaultVersion: aws.String("4")})
			if i < 50 && err != nil || i == 50 && apiCode(t, err) != "RequestLimitExceeded" {
				t.Fatalf("ModifyLaunchTemplate call %d: %v", i+1, err)
			}
		}
		if _, err := c.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{LaunchTemplateId: aws.String(ltID(1)), SourceVersion: aws.String("4"),
			LaunchTemplateData: &types.RequestLaunchTemplateData{}}); err != nil {
			t.Errorf("CreateLaunchTemplateVersion shares a bucket: %v", err)
		}
		clock.Advance(1e9) // one second: 2 defaults tokens
		for i := range 2 {
			if _, err := c.ModifyInstanceMetadataDefaults(ctx, &ec2.ModifyInstanceMetadataDefaultsInput{HttpTokens: types.MetadataDefaultHttpTokensStateRequired}); err != nil {
				t.Errorf("defaults call after refill %d: %v", i+1, err)
			}
		}
	})

	t.Run("deny switches", func(t *testing.T) {
		f := launchFleet(1, 0, 0)
		f.Accounts[0].Regions[0].Knobs = &fleet.Knobs{DenyAPIs: []string{"CreateLaunchTemplateVersion", "ModifyInstanceMetadataDefaults"}}
		s, url := simtest.Start(t, f, sim.Options{})
		c := ec2Client(t, url, keyA, "us-east-1")
		for _, dry := range []bool{true, false} {
			_, err := c.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{DryRun: aws.Bool(dry), LaunchTemplateId: aws.String(ltID(1)),
				LaunchTemplateData: &types.RequestLaunchTemplateData{}})
			if apiCode(t, err) != "UnauthorizedOperation" || !strings.Contains(err.Error(), "ec2:CreateLaunchTemplateVersion") {
				t.Errorf("denied create, dry run %v: %v", dry, err)
			}
			if _, err := c.ModifyInstanceMetadataDefaults(ctx, &ec2.ModifyInstanceMetadataDefaultsInput{DryRun: aws.Bool(dry), HttpTokens: "required"}); apiCode(t, err) != "UnauthorizedOperation" {
				t.Errorf("denied defaults, dry run %v: %v", dry, err)
			}
		}
		if _, err := c.ModifyLaunchTemplate(ctx, &ec2.ModifyLaunchTemplateInput{LaunchTemplateId: aws.String(ltID(1)), DefaultVersion: aws.String("4")}); err != nil {
			t.Errorf("ModifyLaunchTemplate is not denied: %v", err)
		}
		if n, _, _ := templateVersions(t, s, ltID(1)); len(n) != 3 {
			t.Errorf("a denied call added a version: %v", n)
		}
		f2 := launchFleet(1, 0, 0)
		f2.Knobs.UnauthorizedOperation = true
		_, url2 := simtest.Start(t, f2, sim.Options{})
		if _, err := ec2Client(t, url2, keyA, "us-east-1").ModifyLaunchTemplate(ctx, &ec2.ModifyLaunchTemplateInput{LaunchTemplateId: aws.String(ltID(1)), DefaultVersion: aws.String("4")}); apiCode(t, err) != "UnauthorizedOperation" {
			t.Errorf("unauthorizedOperation knob: %v", err)
		}
	})

	t.Run("answer lost after the change, then resumed", func(t *testing.T) {
		s, url := simtest.Start(t, launchFleet(1, 0, 0), sim.Options{})
		s.SetKnobs(acctA, "us-east-1", fleet.Knobs{Faults: []fleet.Fault{{API: "CreateLaunchTemplateVersion", Rate: 1, ResetAfterApply: true}}})
		in := &ec2.CreateLaunchTemplateVersionInput{ClientToken: aws.String("run-1/" + ltID(1) + "/2"), LaunchTemplateId: aws.String(ltID(1)), SourceVersion: aws.String("2"),
			LaunchTemplateData: &types.RequestLaunchTemplateData{MetadataOptions: &types.LaunchTemplateInstanceMetadataOptionsRequest{HttpTokens: types.LaunchTemplateHttpTokensStateRequired}}}
		if _, err := noRetryEC2(url, keyA, "us-east-1").CreateLaunchTemplateVersion(ctx, in); err == nil {
			t.Fatal("the injected reset did not reach the client")
		}
		s.SetKnobs(acctA, "us-east-1", fleet.Knobs{Faults: []fleet.Fault{}})
		out, err := ec2Client(t, url, keyA, "us-east-1").CreateLaunchTemplateVersion(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToInt64(out.LaunchTemplateVersion.VersionNumber) != 5 {
			t.Errorf("resumed call answered version %d, want 5", aws.ToInt64(out.LaunchTemplateVersion.VersionNumber))
		}
		if n, _, latest := templateVersions(t, s, ltID(1)); len(n) != 4 || latest != 5 {
			t.Errorf("versions %v: want exactly one new version", n)
		}
		calls := sourceCalls(s, "CreateLaunchTemplateVersion")
		if len(calls) != 2 || calls[0].Outcome != sim.OutcomeResetAfterApply || !calls[1].Replayed {
			t.Errorf("recorded %+v", calls)
		}
		if got := s.Stats().Faults["CreateLaunchTemplateVersion"]["us-east-1"]; got != 1 {
			t.Errorf("faults counted %d", got)
		}
	})
}

// TestLaunchSourceWritesConcurrent runs the writes and the scan's reads of
// the same templates and groups at once (under -race: the lock the reads
// and writes share), and checks that every version created got its own
// number.
func TestLaunchSourceWritesConcurrent(t *testing.T) {
	s, url := simtest.Start(t, launchFleet(2, 3, 0), sim.Options{})
	c := ec2Client(t, url, keyA, "us-east-1")
	as := asgClient(url, keyA, "us-east-1")
	ctx := context.Background()
	const n = 8
	errs := make(chan error, 4*n)
	numbers := make(chan int64, n)
	for i := range n {
		go func() {
			out, err := c.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{LaunchTemplateId: aws.String(ltID(1)), SourceVersion: aws.String("2"),
				LaunchTemplateData: &types.RequestLaunchTemplateData{MetadataOptions: &types.LaunchTemplateInstanceMetadataOptionsRequest{HttpTokens: types.LaunchTemplateHttpTokensStateRequired}}})
			if err == nil {
				numbers <- aws.ToInt64(out.LaunchTemplateVersion.VersionNumber)
			}
			errs <- err
		}()
		go func() {
			_, err := c.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{Versions: []string{"$Latest", "$Default"}})
			errs <- err
		}()
		go func() {
			_, err := c.ModifyLaunchTemplate(ctx, &ec2.ModifyLaunchTemplateInput{LaunchTemplateId: aws.String(ltID(1)), DefaultVersion: aws.String([]string{"1", "2", "4"}[i%3])})
			errs <- err
		}()
		go func() {
			_, err := as.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
			if err == nil {
				_, err = as.UpdateAutoScalingGroup(ctx, &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String("group-001"),
					LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(ltID(1)), Version: aws.String("4")}})
			}
			errs <- err
		}()
	}
	for range 4 * n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	close(numbers)
	seen := map[int64]bool{}
	for v := range numbers {
		if seen[v] {
			t.Errorf("version %d answered twice", v)
		}
		seen[v] = true
	}
	if nums, _, latest := templateVersions(t, s, ltID(1)); len(nums) != 3+n || latest != 4+n {
		t.Errorf("versions %v, latest %d: want %d new ones", nums, latest, n)
	}
}
