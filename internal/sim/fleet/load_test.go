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
		{"enabled regions", `{"enabledRegions":"some","accounts":[{` + acct + `,"regions":[]}]}`, []string{`enabledRegions "some"`}},
		{"opt-in status of an opt-in Region", `{"accounts":[{` + acct + `,"regions":[{"name":"af-south-1","optInStatus":"opt-in-not-required"}]}]}`,
			[]string{`af-south-1 is an opt-in Region`}},
		{"opted in to a default Region", `{"accounts":[{` + acct + `,"regions":[{"name":"us-east-2","optInStatus":"opted-in"}]}]}`,
			[]string{`us-east-2 needs no opt-in`}},
		{"default Region disabled on AWS", `{"enabledRegions":"aws","accounts":[{` + acct + `,"regions":[{"name":"us-east-2","optInStatus":"not-opted-in"}]}]}`,
			[]string{`a Region that needs no opt-in is always enabled`}},
		{"zones", `{"accounts":[{` + acct + `,"regions":[{"name":"us-east-1","availabilityZones":["us-east-1a","eu-west-1b"],"instances":[{"id":"i-0123456789abcdef0","state":"running","availabilityZone":"us-east-1c"}]}]}]}`,
			[]string{`"eu-west-1b" is not a zone of us-east-1`, `availabilityZone "us-east-1c": want one of us-east-1a, eu-west-1b`}},
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

// TestLoadLaunchSources: an instance that names its group gets EC2's auto
// tags, with the template and the version the group's specifier resolves
// to; unnumbered versions are numbered; tags the fleet sets win.
func TestLoadLaunchSources(t *testing.T) {
	f, err := Load(strings.NewReader(`{"accounts":[{"id":"123456789012","regions":[{"name":"us-east-1",
		"defaults":{"httpTokens":"required","managedBy":"declarative-policy","managedExceptionMessage":"ask security"},
		"images":[{"id":"ami-0e731c8a588258d0d","imdsSupport":"v2.0"}],
		"launchTemplates":[{"id":"lt-0123456789abcdef0","name":"web","defaultVersion":1,"versions":[{},{"metadataOptions":{"httpTokens":"required"}}]}],
		"autoScalingGroups":[{"name":"web","launchTemplate":{"name":"web","version":"$Latest"}}],
		"instances":[
			{"id":"i-0123456789abcdef0","state":"running","autoScalingGroup":"web"},
			{"id":"i-0123456789abcdef1","state":"running","launchTemplate":{"id":"lt-0123456789abcdef0","version":"1"}},
			{"id":"i-0123456789abcdef2","state":"running","autoScalingGroup":"web","tags":{"aws:ec2launchtemplate:version":"1"}}]}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	r := f.Accounts[0].Regions[0]
	if v := r.LaunchTemplates[0].Versions; v[0].Number != 1 || v[1].Number != 2 {
		t.Errorf("version numbers %d, %d; want 1, 2", v[0].Number, v[1].Number)
	}
	want := []map[string]string{
		{TagAutoScalingGroup: "web", TagLaunchTemplateID: "lt-0123456789abcdef0", TagLaunchTemplateVersion: "2"},
		{TagLaunchTemplateID: "lt-0123456789abcdef0", TagLaunchTemplateVersion: "1"},
		{TagAutoScalingGroup: "web", TagLaunchTemplateID: "lt-0123456789abcdef0", TagLaunchTemplateVersion: "1"},
	}
	for i, w := range want {
		for k, v := range w {
			if got := r.Instances[i].Tags[k]; got != v {
				t.Errorf("instance %d: tag %s = %q, want %q", i, k, got, v)
			}
		}
	}
}

func TestLoadLaunchSourceErrors(t *testing.T) {
	region := func(body string) string {
		return `{"accounts":[{"id":"123456789012","regions":[{"name":"us-east-1",` + body + `}]}]}`
	}
	tests := []struct {
		name, json string
		want       []string
	}{
		{"image", region(`"images":[{"id":"img-1","imdsSupport":"v2"}],"instances":[]`),
			[]string{`image img-1: id "img-1": want ami-`, `imdsSupport "v2": want v2.0`}},
		{"template", region(`"launchTemplates":[{"id":"lt-1","name":"a","versions":[]}],"instances":[]`),
			[]string{`launch template lt-1: id "lt-1"`, `name "a": want 3 to 128`, `at least one version`}},
		{"template default", region(`"launchTemplates":[{"id":"lt-0123456789abcdef0","name":"web","defaultVersion":3,"versions":[{}]}],"instances":[]`),
			[]string{`defaultVersion 3: no such version`}},
		{"group sources", region(`"autoScalingGroups":[{"name":"g","launchConfigurationName":"lc","launchTemplate":{"name":"web","version":"latest"}}],"instances":[]`),
			[]string{`Auto Scaling group "g": want exactly one of`, `version "latest": want $Latest, $Default or a version number`}},
		{"launch configuration options", region(`"launchConfigurations":[{"name":"lc","imageId":"ami-0e731c8a588258d0d","metadataOptions":{"instanceMetadataTags":"enabled"}}],"instances":[]`),
			[]string{`sets only httpTokens`}},
		{"instance group", region(`"instances":[{"id":"i-0123456789abcdef0","state":"running","autoScalingGroup":"gone"}]`),
			[]string{`autoScalingGroup "gone": the Region has no such group`}},
		{"instance template version", region(`"launchTemplates":[{"id":"lt-0123456789abcdef0","name":"web","versions":[{}]}],"instances":[{"id":"i-0123456789abcdef0","state":"running","launchTemplate":{"id":"lt-0123456789abcdef0","version":"$Latest"}}]`),
			[]string{`version "$Latest": want the number of the version the instance was launched from`}},
		{"managed by", region(`"defaults":{"managedBy":"policy","managedExceptionMessage":"x"},"instances":[]`),
			[]string{`managedBy "policy"`, `managedExceptionMessage: only a declarative policy`}},
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
