package scanner

import (
	"slices"
	"strings"
	"testing"
)

// zoneMatches reports whether zone matches an EC2 filter value, where *
// matches any run of characters.
func zoneMatches(value, zone string) bool {
	if prefix, ok := strings.CutSuffix(value, "*"); ok {
		return strings.HasPrefix(zone, prefix)
	}
	return value == zone
}

// TestZonePartsDisjointAndComplete: every zone name a Region can have
// (listed or not, Local and Wavelength Zones included) falls in exactly one
// part, whatever DescribeAvailabilityZones listed.
func TestZonePartsDisjointAndComplete(t *testing.T) {
	const region = "us-east-1"
	var names []string
	for c := 'a'; c <= 'z'; c++ {
		names = append(names, region+string(c))
	}
	names = append(names, "us-east-1-bos-1a", "us-east-1-wl1-bos-wlz-1", "us-east-1-atl-2b")
	for _, listed := range [][]string{
		{"us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1e", "us-east-1f"},
		{"us-east-1a", "us-east-1c", "us-east-1-bos-1a", "us-east-1a"},
		{"eu-west-1a", "us-east-1z"}, // another Region's zone is ignored
		nil,
	} {
		parts := zoneParts(region, listed)
		for _, z := range names {
			n := 0
			for _, p := range parts {
				if slices.ContainsFunc(p.Values, func(v string) bool { return zoneMatches(v, z) }) {
					n++
				}
			}
			if n != 1 {
				t.Errorf("listed %v: zone %s is in %d parts of %v", listed, z, n, parts)
			}
		}
		// One part per listed standard zone, plus one.
		std := 0
		seen := map[string]bool{}
		for _, z := range listed {
			if len(z) == len(region)+1 && strings.HasPrefix(z, region) && !seen[z] {
				std++
				seen[z] = true
			}
		}
		if len(parts) != std+1 {
			t.Errorf("listed %v: %d parts, want %d", listed, len(parts), std+1)
		}
	}
}
