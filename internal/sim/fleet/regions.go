package fleet

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
)

// PartitionRegion is one Region of an AWS partition.
type PartitionRegion struct {
	Name string
	// OptIn marks an opt-in Region: disabled in an account until enabled.
	OptIn bool
}

// PartitionRegions returns the Regions of an AWS partition ("aws",
// "aws-us-gov", "aws-cn") sorted by name, nil for another partition.
//
// The names are the SDK's partitions.json (aws-sdk-go-v2 v1.47.7); the
// opt-in Regions are those launched after 20 March 2019, which AWS Account
// Management disables until an account enables them
// (docs/aws-facts.md#regions-and-opt-in).
func PartitionRegions(partition string) []PartitionRegion {
	var defaults, optIn []string
	switch partition {
	case "aws":
		defaults = []string{
			"ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1",
			"ap-southeast-1", "ap-southeast-2", "ca-central-1", "eu-central-1",
			"eu-north-1", "eu-west-1", "eu-west-2", "eu-west-3", "sa-east-1",
			"us-east-1", "us-east-2", "us-west-1", "us-west-2",
		}
		optIn = []string{
			"af-south-1", "ap-east-1", "ap-east-2", "ap-south-2", "ap-southeast-3",
			"ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7",
			"ca-west-1", "eu-central-2", "eu-south-1", "eu-south-2", "il-central-1",
			"me-central-1", "me-south-1", "mx-central-1",
		}
	case "aws-us-gov":
		defaults = []string{"us-gov-east-1", "us-gov-west-1"}
	case "aws-cn":
		defaults = []string{"cn-north-1", "cn-northwest-1"}
	default:
		return nil
	}
	out := make([]PartitionRegion, 0, len(defaults)+len(optIn))
	for _, n := range defaults {
		out = append(out, PartitionRegion{Name: n})
	}
	for _, n := range optIn {
		out = append(out, PartitionRegion{Name: n, OptIn: true})
	}
	slices.SortFunc(out, func(a, b PartitionRegion) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// PartitionOf returns the partition of a Region name: "aws-us-gov" for
// us-gov-*, "aws-cn" for cn-*, else "aws".
func PartitionOf(region string) string {
	switch {
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	}
	return "aws"
}

// OptInRegion reports whether region is one of its partition's opt-in
// Regions.
func OptInRegion(region string) bool {
	for _, r := range PartitionRegions(PartitionOf(region)) {
		if r.Name == region {
			return r.OptIn
		}
	}
	return false
}

// KnownRegion reports whether region is one of its partition's Regions.
func KnownRegion(region string) bool {
	for _, r := range PartitionRegions(PartitionOf(region)) {
		if r.Name == region {
			return true
		}
	}
	return false
}

// How the fleet's EnabledRegions says which Regions an account may use.
const (
	// EnabledListed: exactly the Regions the account lists (but those
	// listed not-opted-in) are enabled; every other Region of the
	// partition is reported not-opted-in. A small fleet stays small to
	// scan. (On AWS the default Regions cannot be disabled.)
	EnabledListed = "listed"
	// EnabledAWS: as on AWS, every Region that needs no opt-in is
	// enabled, listed or not (an unlisted one holds no instances); an
	// opt-in Region is enabled when the account lists it.
	EnabledAWS = "aws"
)

// CallsAllowed reports whether calls into region are answered (rather than
// refused with AuthFailure as in a disabled Region): in every Region
// RegionStatus does not report not-opted-in, and, with EnabledListed, also
// in a Region that needs no opt-in and that the account does not list. AWS
// never disables those, so an SDK whose home Region one is (us-east-1 for
// DescribeRegions) is answered, while a scan skips it as not enabled.
func (a *Account) CallsAllowed(mode, region string) bool {
	if a.RegionStatus(mode, region) != "not-opted-in" {
		return true
	}
	for i := range a.Regions {
		if a.Regions[i].Name == region {
			return false // listed not-opted-in
		}
	}
	return KnownRegion(region) && !OptInRegion(region)
}

// RegionStatus is the opt-in status DescribeRegions reports for region in
// account a under the fleet's EnabledRegions mode ("" means listed).
func (a *Account) RegionStatus(mode, region string) string {
	for i := range a.Regions {
		r := &a.Regions[i]
		if r.Name != region {
			continue
		}
		if r.OptInStatus != "" {
			return r.OptInStatus
		}
		if OptInRegion(region) {
			return "opted-in"
		}
		return "opt-in-not-required"
	}
	if mode == EnabledAWS && KnownRegion(region) && !OptInRegion(region) {
		return "opt-in-not-required"
	}
	return "not-opted-in"
}

// Zones returns the Region's Availability Zone names: AvailabilityZones,
// or the Region's name with a, b and c.
func (r *Region) Zones() []string {
	if len(r.AvailabilityZones) > 0 {
		return r.AvailabilityZones
	}
	return []string{r.Name + "a", r.Name + "b", r.Name + "c"}
}

// ZoneOf returns the zone of an instance of r: its AvailabilityZone, else
// one of r's zones chosen from its id (the same on every run).
func (r *Region) ZoneOf(in *Instance) string {
	if in.AvailabilityZone != "" {
		return in.AvailabilityZone
	}
	zones := r.Zones()
	h := fnv.New32a()
	_, _ = h.Write([]byte(in.ID))
	return zones[h.Sum32()%uint32(len(zones))]
}

// ZoneID returns an AWS-style zone id for the i-th zone (0-based) of a
// Region: "use1-az1" for us-east-1's first zone. AWS maps zone names to ids
// per account; the simulated AWS keeps one mapping for every account.
func ZoneID(region string, i int) string {
	parts := strings.Split(region, "-")
	var b strings.Builder
	for k, p := range parts {
		switch {
		case k == 0 || k == len(parts)-1:
			b.WriteString(p)
		case p == "gov":
			b.WriteString("g")
		case strings.HasPrefix(p, "north") && len(p) > len("north"):
			b.WriteString("n" + p[len("north"):len("north")+1])
		case strings.HasPrefix(p, "south") && len(p) > len("south"):
			b.WriteString("s" + p[len("south"):len("south")+1])
		default:
			b.WriteString(p[:1])
		}
	}
	return fmt.Sprintf("%s-az%d", b.String(), i+1)
}
