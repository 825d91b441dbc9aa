package fleet

import (
	"strings"
	"testing"
)

func TestLoadDefaults(t *testing.T) {
	f, err := Load(strings.NewReader(`{"accounts":[{"id":"123456789012","regions":[{"name":"us-east-1","instances":[
		{"id":"i-0123456789abcdef0","state":"running","launchTime":"-3d"},
		{"id":"i-0123456789abcdef1","state":"running","metadataOptions":{"httpTokens":"required","httpPutResponseHopLimit":2}}]}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	got := f.Accounts[0].Regions[0].Instances
	want0 := MetadataOptions{HttpTokens: "optional", HttpEndpoint: "enabled", HttpPutResponseHopLimit: 1, HttpProtocolIpv6: "disabled", InstanceMetadataTags: "disabled"}
	if got[0].MetadataOptions != want0 {
		t.Errorf("defaults = %+v, want %+v", got[0].MetadataOptions, want0)
	}
	want1 := want0
	want1.HttpTokens, want1.HttpPutResponseHopLimit = "required", 2
	if got[1].MetadataOptions != want1 {
		t.Errorf("partial options = %+v, want %+v", got[1].MetadataOptions, want1)
	}
	if k := f.Accounts[0].AccessKeys(); len(k) != 1 || k[0] != "AKIASIM0123456789012" {
		t.Errorf("default access key = %v", k)
	}
}

func TestLoadErrors(t *testing.T) {
	const acct = `"id":"123456789012"`
	tests := []struct {
		name, json string
		want       []string // substrings of the error
	}{
		{"no accounts", `{"accounts":[]}`, []string{"at least one account"}},
		{"bad account id", `{"accounts":[{"id":"12","regions":[]}]}`, []string{`accounts[0] (account 12): id "12": want 12 digits`}},
		{"unknown field", `{"accounts":[{` + acct + `,"regoins":[]}]}`, []string{`unknown field "regoins"`}},
		{"bad region", `{"accounts":[{` + acct + `,"regions":[{"name":"mars-1"}]}]}`, []string{`name "mars-1" is not a Region name`}},
		{"bad instance id", `{"accounts":[{` + acct + `,"regions":[{"name":"us-east-1","instances":[{"id":"web","state":"running"}]}]}]}`,
			[]string{`account 123456789012, Region us-east-1, instance web: id "web"`}},
		{"bad state and tokens", `{"accounts":[{` + acct + `,"regions":[{"name":"us-east-1","instances":[{"id":"i-0123456789abcdef0","state":"sleeping","metadataOptions":{"httpTokens":"v2"}}]}]}]}`,
			[]string{`instance i-0123456789abcdef0: state "sleeping"`, `instance i-0123456789abcdef0: metadataOptions: httpTokens "v2": want optional or required`}},
		{"hop limit", `{"accounts":[{` + acct + `,"regions":[{"name":"us-east-1","instances":[{"id":"i-0123456789abcdef0","state":"running","metadataOptions":{"httpPutResponseHopLimit":65}}]}]}]}`,
			[]string{`httpPutResponseHopLimit 65: want 1..64`}},
		{"duplicate id", `{"accounts":[{` + acct + `,"regions":[{"name":"us-east-1","instances":[{"id":"i-0123456789abcdef0","state":"running"},{"id":"i-0123456789abcdef0","state":"running"}]}]}]}`,
			[]string{`appears twice`}},
		{"bad time", `{"accounts":[{` + acct + `,"regions":[{"name":"us-east-1","instances":[{"id":"i-0123456789abcdef0","state":"running","launchTime":"yesterday"}]}]}]}`,
			[]string{`time "yesterday"`}},
		{"usage metric", `{"accounts":[{` + acct + `,"regions":[{"name":"us-east-1","instances":[{"id":"i-0123456789abcdef0","state":"running","usage":[{"metric":"CPU","from":"-2d","to":"-3d","perHour":1}]}]}]}]}`,
			[]string{`usage[0]: metric "CPU"`, `usage[0]: to (-3d) is before from (-2d)`}},
		{"fault rate", `{"knobs":{"faults":[{"api":"DescribeInstances","rate":2}]},"accounts":[{` + acct + `,"regions":[]}]}`,
			[]string{`knobs: faults[0]: rate 2`}},
		{"fault reset after apply with a code", `{"knobs":{"faults":[{"api":"ModifyInstanceMetadataOptions","rate":1,"resetAfterApply":true,"code":"X"}]},"accounts":[{` + acct + `,"regions":[]}]}`,
			[]string{`knobs: faults[0]: resetAfterApply answers nothing`}},
		{"region knobs", `{"accounts":[{` + acct + `,"regions":[{"name":"us-east-1","knobs":{"latency":{"fixed":"-1s","perKiB":"0s","jitter":"0s"}}}]}]}`,
			[]string{`account 123456789012, Region us-east-1: knobs: latency`}},
		{"syntax", "{\n\"accounts\": [,]}", []string{"line 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(strings.NewReader(tt.json))
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
