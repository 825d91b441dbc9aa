package fleet

import "testing"

func TestRegions(t *testing.T) {
	aws := PartitionRegions("aws")
	optIn := 0
	for _, r := range aws {
		if r.OptIn {
			optIn++
		}
	}
	if len(aws) != 34 || optIn != 17 {
		t.Errorf("aws partition: %d Regions, %d opt-in; want 34 and 17", len(aws), optIn)
	}
	for region, want := range map[string]string{"us-east-1": "use1-az1", "ap-northeast-1": "apne1-az1", "eu-central-2": "euc2-az1", "us-gov-west-1": "usgw1-az1", "me-south-1": "mes1-az1"} {
		if got := ZoneID(region, 0); got != want {
			t.Errorf("ZoneID(%s, 0) = %s, want %s", region, got, want)
		}
	}
	a := &Account{Regions: []Region{{Name: "us-east-1"}, {Name: "af-south-1"}, {Name: "me-south-1", OptInStatus: "not-opted-in"}}}
	for _, tc := range []struct{ mode, region, want string }{
		{EnabledListed, "us-east-1", "opt-in-not-required"},
		{EnabledListed, "af-south-1", "opted-in"},
		{EnabledListed, "me-south-1", "not-opted-in"},
		{EnabledListed, "us-west-2", "not-opted-in"},
		{EnabledAWS, "us-west-2", "opt-in-not-required"},
		{EnabledAWS, "ap-east-1", "not-opted-in"},
		{EnabledAWS, "eu-west-9", "not-opted-in"},
	} {
		if got := a.RegionStatus(tc.mode, tc.region); got != tc.want {
			t.Errorf("RegionStatus(%s, %s) = %s, want %s", tc.mode, tc.region, got, tc.want)
		}
	}
	for _, tc := range []struct {
		mode, region string
		want         bool
	}{
		{EnabledListed, "us-west-2", true},  // default Region left out: answered
		{EnabledListed, "ap-east-1", false}, // opt-in Region left out
		{EnabledListed, "me-south-1", false},
		{EnabledListed, "eu-west-9", false},
		{EnabledAWS, "us-west-2", true},
	} {
		if got := a.CallsAllowed(tc.mode, tc.region); got != tc.want {
			t.Errorf("CallsAllowed(%s, %s) = %v, want %v", tc.mode, tc.region, got, tc.want)
		}
	}
	r := &Region{Name: "eu-west-1"}
	in := &Instance{ID: "i-0123456789abcdef0"}
	if z := r.ZoneOf(in); z != r.ZoneOf(in) || z[:len("eu-west-1")] != "eu-west-1" {
		t.Errorf("ZoneOf = %s", z)
	}
}
