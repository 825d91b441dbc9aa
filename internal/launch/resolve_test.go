package launch

import (
	"strings"
	"testing"

	"github.com/imdsfleet/imdsfleet/report"
)

const (
	acct   = "111122223333"
	region = "eu-west-1"
)

// want is the expected next launch: tokens/from, hop/from, endpoint/from,
// status, and substrings of the reason.
type want struct {
	tokens, tokensFrom     string
	hop                    int32
	hopFrom                string
	endpoint, endpointFrom string
	status                 string
	reason                 []string
}

func check(t *testing.T, what string, got report.NextLaunch, w want) {
	t.Helper()
	if w.status == "" {
		w.status = report.NextLaunchResolved
	}
	if got.Status != w.status || got.HttpTokens != w.tokens || got.HttpTokensFrom != w.tokensFrom ||
		got.HttpPutResponseHopLimit != w.hop || got.HttpPutResponseHopLimitFrom != w.hopFrom ||
		got.HttpEndpoint != w.endpoint || got.HttpEndpointFrom != w.endpointFrom {
		t.Errorf("%s: next launch = %+v\nwant %+v", what, got, w)
	}
	for _, r := range w.reason {
		if !strings.Contains(got.Reason, r) {
			t.Errorf("%s: reason %q lacks %q", what, got.Reason, r)
		}
	}
	if len(w.reason) == 0 && got.Status != report.NextLaunchResolved && got.Reason == "" {
		t.Errorf("%s: status %s without a reason", what, got.Status)
	}
}

func sourceByID(t *testing.T, res Result, id string) report.LaunchSource {
	t.Helper()
	for _, s := range res.Sources {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("no source %s among %d", id, len(res.Sources))
	return report.LaunchSource{}
}

// TestPrecedence: one template version resolved against every layer
// below it, field by field.
func TestPrecedence(t *testing.T) {
	plainAMI := Image{ID: "ami-plain"}
	v2AMI := Image{ID: "ami-v2", ImdsSupport: "v2.0"}
	gone := Image{ID: "ami-gone", Missing: true}
	all := []Image{plainAMI, v2AMI, gone}
	none := &AccountDefaults{}
	tests := []struct {
		name     string
		opts     Options
		image    string
		defaults *AccountDefaults
		images   []Image
		failures []ReadFailure
		want     want
	}{
		{"template sets every field", Options{HttpTokens: "required", HttpPutResponseHopLimit: 1, HttpEndpoint: "enabled"}, "ami-plain", none, all, nil,
			want{tokens: "required", tokensFrom: "launch-template", hop: 1, hopFrom: "launch-template", endpoint: "enabled", endpointFrom: "launch-template"}},
		{"template wins over account defaults and AMI", Options{HttpTokens: "optional", HttpPutResponseHopLimit: 3, HttpEndpoint: "enabled"}, "ami-v2",
			&AccountDefaults{HttpTokens: "required", HttpPutResponseHopLimit: 2}, all, nil,
			want{tokens: "optional", tokensFrom: "launch-template", hop: 3, hopFrom: "launch-template", endpoint: "enabled", endpointFrom: "launch-template"}},
		{"account defaults fill unset fields", Options{}, "ami-plain", &AccountDefaults{HttpTokens: "required", HttpPutResponseHopLimit: 2, HttpEndpoint: "enabled", ManagedBy: "account"}, all, nil,
			want{tokens: "required", tokensFrom: "account-default", hop: 2, hopFrom: "account-default", endpoint: "enabled", endpointFrom: "account-default"}},
		{"declarative policy is named as the layer", Options{}, "ami-plain", &AccountDefaults{HttpTokens: "required", ManagedBy: "declarative-policy", ManagedExceptionMessage: "ask secops"}, all, nil,
			want{tokens: "required", tokensFrom: "declarative-policy", hop: 1, hopFrom: "built-in", endpoint: "enabled", endpointFrom: "built-in"}},
		{"account default optional wins over an ImdsSupport AMI", Options{}, "ami-v2", &AccountDefaults{HttpTokens: "optional"}, all, nil,
			want{tokens: "optional", tokensFrom: "account-default", hop: 2, hopFrom: "ami", endpoint: "enabled", endpointFrom: "built-in"}},
		{"AMI ImdsSupport v2.0 when nothing above sets it", Options{}, "ami-v2", none, all, nil,
			want{tokens: "required", tokensFrom: "ami", hop: 2, hopFrom: "ami", endpoint: "enabled", endpointFrom: "built-in"}},
		{"template tokens with AMI hop limit", Options{HttpTokens: "optional"}, "ami-v2", none, all, nil,
			want{tokens: "optional", tokensFrom: "launch-template", hop: 2, hopFrom: "ami", endpoint: "enabled", endpointFrom: "built-in"}},
		{"built-in defaults", Options{}, "ami-plain", none, all, nil,
			want{tokens: "optional", tokensFrom: "built-in", hop: 1, hopFrom: "built-in", endpoint: "enabled", endpointFrom: "built-in"}},
		{"no-preference is unset", Options{}, "ami-plain", &AccountDefaults{HttpTokens: "no-preference", HttpPutResponseHopLimit: -1, HttpEndpoint: "no-preference"}, all, nil,
			want{tokens: "optional", tokensFrom: "built-in", hop: 1, hopFrom: "built-in", endpoint: "enabled", endpointFrom: "built-in"}},
		{"endpoint disabled by the account", Options{}, "ami-plain", &AccountDefaults{HttpEndpoint: "disabled"}, all, nil,
			want{tokens: "optional", tokensFrom: "built-in", hop: 1, hopFrom: "built-in", endpoint: "disabled", endpointFrom: "account-default"}},
		{"HttpTokensEnforced: an optional launch fails", Options{}, "ami-plain", &AccountDefaults{HttpTokensEnforced: "enabled"}, all, nil,
			want{tokens: "optional", tokensFrom: "built-in", hop: 1, hopFrom: "built-in", endpoint: "enabled", endpointFrom: "built-in",
				status: report.NextLaunchFails, reason: []string{"HttpTokensEnforced is enabled in eu-west-1", "refuses"}}},
		{"HttpTokensEnforced: an explicit optional fails too", Options{HttpTokens: "optional"}, "ami-v2", &AccountDefaults{HttpTokensEnforced: "enabled"}, all, nil,
			want{tokens: "optional", tokensFrom: "launch-template", hop: 2, hopFrom: "ami", endpoint: "enabled", endpointFrom: "built-in",
				status: report.NextLaunchFails, reason: []string{"launch-template"}}},
		{"HttpTokensEnforced: a required launch succeeds", Options{}, "ami-v2", &AccountDefaults{HttpTokensEnforced: "enabled"}, all, nil,
			want{tokens: "required", tokensFrom: "ami", hop: 2, hopFrom: "ami", endpoint: "enabled", endpointFrom: "built-in"}},
		{"deleted AMI", Options{}, "ami-gone", none, all, nil,
			want{endpoint: "enabled", endpointFrom: "built-in", status: report.NextLaunchUnresolved, reason: []string{"AMI ami-gone no longer exists"}}},
		{"deleted AMI does not matter when the template decides", Options{HttpTokens: "required", HttpPutResponseHopLimit: 1}, "ami-gone", none, all, nil,
			want{tokens: "required", tokensFrom: "launch-template", hop: 1, hopFrom: "launch-template", endpoint: "enabled", endpointFrom: "built-in"}},
		{"AMI not read", Options{HttpTokens: "required"}, "ami-x", none, nil, []ReadFailure{{Read: ReadImages, Err: "UnauthorizedOperation"}},
			want{tokens: "required", tokensFrom: "launch-template", endpoint: "enabled", endpointFrom: "built-in", status: report.NextLaunchUnresolved,
				reason: []string{"AMI ami-x not read", "ec2:DescribeImages", "UnauthorizedOperation"}}},
		{"AMI from SSM", Options{}, "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64", none, all, nil,
			want{endpoint: "enabled", endpointFrom: "built-in", status: report.NextLaunchUnresolved, reason: []string{"SSM parameter /aws/service/ami-amazon-linux-latest"}}},
		{"template without an AMI", Options{HttpTokens: "optional"}, "", none, all, nil,
			want{tokens: "optional", tokensFrom: "launch-template", endpoint: "enabled", endpointFrom: "built-in", status: report.NextLaunchUnresolved, reason: []string{"names no AMI"}}},
		{"account defaults not read", Options{HttpTokens: "optional"}, "ami-plain", nil, all, []ReadFailure{{Read: ReadDefaults, Err: "AccessDenied"}},
			want{tokens: "optional", tokensFrom: "launch-template", status: report.NextLaunchUnresolved, reason: []string{"account defaults not read (ec2:GetInstanceMetadataDefaults: AccessDenied)"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := &Inventory{Account: acct, Region: region, Defaults: tt.defaults, Images: tt.images, Failures: tt.failures,
				Templates: []TemplateVersion{{TemplateID: "lt-1", TemplateName: "web", Version: 1, Default: true, Latest: true, MetadataOptions: tt.opts, ImageID: tt.image}}}
			res := Resolve(inv, nil)
			check(t, "template", sourceByID(t, res, "launch-template/lt-1/1").NextLaunch, tt.want)
			// A launch configuration with the same options resolves the
			// same way, naming its own layer.
			inv.Templates = nil
			inv.LaunchConfigs = []LaunchConfig{{Name: "lc", MetadataOptions: tt.opts, ImageID: tt.image}}
			w := tt.want
			for _, f := range []*string{&w.tokensFrom, &w.hopFrom, &w.endpointFrom} {
				if *f == "launch-template" {
					*f = "launch-configuration"
				}
			}
			for i, r := range w.reason {
				if r == "launch-template" {
					w.reason[i] = "launch-configuration"
				}
			}
			check(t, "configuration", sourceByID(t, Resolve(inv, nil), "launch-configuration/lc").NextLaunch, w)
		})
	}
}
