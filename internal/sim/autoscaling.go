package sim

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/wire"
)

const autoScalingNamespace = "http://autoscaling.amazonaws.com/doc/2011-01-01/"

// autoScalingService is Auto Scaling (awsQuery protocol): the groups and
// launch configurations of each account's Regions.
func (s *Server) autoScalingService() *service {
	return &service{
		signingName: "autoscaling",
		iamPrefix:   "autoscaling",
		version:     "2011-01-01",
		query:       wire.Codec{Protocol: wire.AWSQuery, Namespace: autoScalingNamespace},
		unsigned:    wire.Error{Status: http.StatusForbidden, Code: "MissingAuthenticationToken", Message: "Request is missing Authentication Token"},
		deny:        autoScalingDeny,
		throttled:   wire.Error{Status: http.StatusBadRequest, Code: "Throttling", Message: "Rate exceeded"},
		bucket:      func(c *call) (string, bucketSpec) { return "autoscaling:" + c.api, specNonMutating },
		ops: map[string]operation{
			"DescribeAutoScalingGroups":    {handle: (*Server).describeAutoScalingGroups},
			"DescribeLaunchConfigurations": {handle: (*Server).describeLaunchConfigurations},
			// AWS publishes no Auto Scaling request limits; a mutating call
			// gets EC2's bucket for mutating calls (docs/aws-facts.md#launch-source-writes).
			"UpdateAutoScalingGroup": {handle: (*Server).updateAutoScalingGroup, settled: (*Server).recordSourceCall,
				bucket: func(c *call) (string, bucketSpec) { return "autoscaling:" + c.api, specMutating }},
		},
	}
}

// autoScalingDeny answers Auto Scaling calls in a Region not enabled for
// the account, in a Region that rejects the credentials, and those the
// Region's denyApis or autoScalingDenied knobs deny.
func autoScalingDeny(_ *Server, c *call) string {
	if c.region.optIn == "not-opted-in" || c.knobs.AuthFailure {
		return c.fail(http.StatusForbidden, "InvalidClientTokenId", "The security token included in the request is invalid.")
	}
	if c.knobs.AutoScalingDenied {
		user := principalArn(c)
		return c.fail(http.StatusForbidden, "AccessDenied", "User: "+user+" is not authorized to perform: autoscaling:"+c.api+" because no identity-based policy allows the autoscaling:"+c.api+" action")
	}
	return launchDenied(c)
}

// maxRecords reads MaxRecords: at most 100, default 50 (AWS's
// ValidationError above; docs/aws-facts.md#launch-sources).
func maxRecords(c *call) (int, string) {
	v := c.form().Get("MaxRecords")
	if v == "" {
		return 50, ""
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 100 {
		return 0, c.fail(http.StatusBadRequest, "ValidationError",
			fmt.Sprintf("1 validation error detected: Value '%s' at 'maxRecords' failed to satisfy constraint: Member must have value less than or equal to 100", v))
	}
	return n, ""
}

// members reads an awsQuery list: Name.member.1, Name.member.2, …
func members(c *call, name string) []string { return indexed(c.form(), name+".member") }

func (s *Server) describeAutoScalingGroups(c *call) string {
	limit, out := maxRecords(c)
	if out != "" {
		return out
	}
	after, out := pageAfter(c)
	if out != "" {
		return out
	}
	names := members(c, "AutoScalingGroupNames")
	ls := c.region.launch
	ls.mu.RLock()
	defer ls.mu.RUnlock()
	now := s.now()
	acct := accountID(c.account)
	x := c.startXML("DescribeAutoScalingGroupsResponse")
	x.Open("DescribeAutoScalingGroupsResult")
	x.Open("AutoScalingGroups")
	page, next := pageByName(ls.groups, func(g *fleet.AutoScalingGroup) string { return g.Name }, names, after, limit)
	for _, g := range page {
		writeGroup(x, c, g, ls.groupInstances[g.Name], acct, now)
	}
	x.Close("AutoScalingGroups")
	if next != "" {
		x.Elem("NextToken", next)
	}
	x.Close("DescribeAutoScalingGroupsResult")
	c.endXML(x, "DescribeAutoScalingGroupsResponse")
	return "ok"
}

// templateSpec writes an Auto Scaling LaunchTemplateSpecification: AWS
// answers both the id and the name of a template that exists, and the
// version as the group names it ($Default when it names none).
func templateSpec(x wire.XML, tag string, ref fleet.LaunchTemplateRef, ls *launchState) {
	id, name := ref.ID, ref.Name
	if lt := ls.templateByID[id]; lt != nil {
		name = lt.Name
	} else if lt := ls.templateByName[name]; id == "" && lt != nil {
		id = lt.ID
	}
	version := ref.Version
	if version == "" {
		version = fleet.VersionDefault
	}
	x.Open(tag)
	if id != "" {
		x.Elem("LaunchTemplateId", id)
	}
	if name != "" {
		x.Elem("LaunchTemplateName", name)
	}
	x.Elem("Version", version)
	x.Close(tag)
}

func writeGroup(x wire.XML, c *call, g *fleet.AutoScalingGroup, insts []*fleet.Instance, acct string, now time.Time) {
	ls := c.region.launch
	x.Open("member")
	x.Elem("AutoScalingGroupName", g.Name)
	x.Elem("AutoScalingGroupARN", fmt.Sprintf("arn:%s:autoscaling:%s:%s:autoScalingGroup:%s:autoScalingGroupName/%s", c.s.partition, c.region.name, acct, groupUUID(g.Name), g.Name))
	switch {
	case g.LaunchConfigurationName != "":
		x.Elem("LaunchConfigurationName", g.LaunchConfigurationName)
	case g.LaunchTemplate != nil:
		templateSpec(x, "LaunchTemplate", *g.LaunchTemplate, ls)
	case g.MixedInstancesPolicy != nil:
		m := g.MixedInstancesPolicy
		x.Open("MixedInstancesPolicy")
		x.Open("LaunchTemplate")
		templateSpec(x, "LaunchTemplateSpecification", m.LaunchTemplate, ls)
		x.Open("Overrides")
		for _, o := range m.Overrides {
			x.Open("member")
			x.Elem("InstanceType", o.InstanceType)
			if o.LaunchTemplate != nil {
				templateSpec(x, "LaunchTemplateSpecification", *o.LaunchTemplate, ls)
			}
			x.Close("member")
		}
		x.Close("Overrides")
		x.Close("LaunchTemplate")
		x.Open("InstancesDistribution")
		x.Elem("OnDemandAllocationStrategy", "prioritized")
		x.ElemInt("OnDemandBaseCapacity", 0)
		x.ElemInt("OnDemandPercentageAboveBaseCapacity", 100)
		x.Elem("SpotAllocationStrategy", "price-capacity-optimized")
		x.Close("InstancesDistribution")
		x.Close("MixedInstancesPolicy")
	}
	live := int64(len(insts))
	maxSize := int64(g.MaxSize)
	if maxSize < live {
		maxSize = live
	}
	x.ElemInt("MinSize", int64(g.MinSize))
	x.ElemInt("MaxSize", maxSize)
	x.ElemInt("DesiredCapacity", live)
	x.ElemInt("DefaultCooldown", 300)
	x.Open("AvailabilityZones")
	x.Elem("member", c.region.name+"a")
	x.Close("AvailabilityZones")
	x.Open("LoadBalancerNames")
	x.Close("LoadBalancerNames")
	x.Open("TargetGroupARNs")
	x.Close("TargetGroupARNs")
	x.Elem("HealthCheckType", "EC2")
	x.ElemInt("HealthCheckGracePeriod", 300)
	x.Open("Instances")
	for _, in := range insts {
		x.Open("member")
		x.Elem("InstanceId", in.ID)
		x.Elem("InstanceType", instanceType(in))
		x.Elem("AvailabilityZone", c.region.name+"a")
		x.Elem("LifecycleState", lifecycleState(in.State))
		x.Elem("HealthStatus", "Healthy")
		if id := in.Tags[fleet.TagLaunchTemplateID]; id != "" {
			ref := fleet.LaunchTemplateRef{ID: id, Version: in.Tags[fleet.TagLaunchTemplateVersion]}
			templateSpec(x, "LaunchTemplate", ref, ls)
		} else if g.LaunchConfigurationName != "" {
			x.Elem("LaunchConfigurationName", g.LaunchConfigurationName)
		}
		x.ElemBool("ProtectedFromScaleIn", false)
		x.Close("member")
	}
	x.Close("Instances")
	x.Elem("CreatedTime", g.CreatedTime.At(now).UTC().Format("2006-01-02T15:04:05.000Z"))
	x.Open("SuspendedProcesses")
	x.Close("SuspendedProcesses")
	x.Open("Tags")
	keys := make([]string, 0, len(g.Tags))
	for k := range g.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		x.Open("member")
		x.Elem("ResourceId", g.Name)
		x.Elem("ResourceType", "auto-scaling-group")
		x.Elem("Key", k)
		x.Elem("Value", g.Tags[k])
		x.ElemBool("PropagateAtLaunch", true)
		x.Close("member")
	}
	x.Close("Tags")
	x.Open("TerminationPolicies")
	x.Elem("member", "Default")
	x.Close("TerminationPolicies")
	x.ElemBool("NewInstancesProtectedFromScaleIn", false)
	x.Elem("ServiceLinkedRoleARN", "arn:"+c.s.partition+":iam::"+acct+":role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling")
	x.Close("member")
}

// lifecycleState maps an EC2 instance state to an Auto Scaling lifecycle
// state.
func lifecycleState(state string) string {
	switch state {
	case "pending":
		return "Pending"
	case "stopping", "stopped":
		return "Standby"
	}
	return "InService"
}

// groupUUID derives a stable UUID-shaped id from a group name for its ARN.
func groupUUID(name string) string {
	h := fnvHex(name)
	return h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-8" + h[17:20] + "-" + h[20:32]
}

func fnvHex(s string) string {
	var a, b uint64 = 14695981039346656037, 1099511628211
	var out strings.Builder
	for i := 0; out.Len() < 32; i++ {
		h := a
		for j := 0; j < len(s); j++ {
			h ^= uint64(s[j])
			h *= b
		}
		h ^= uint64(i)
		h *= b
		fmt.Fprintf(&out, "%016x", h)
	}
	return out.String()[:32]
}

func (s *Server) describeLaunchConfigurations(c *call) string {
	limit, out := maxRecords(c)
	if out != "" {
		return out
	}
	after, out := pageAfter(c)
	if out != "" {
		return out
	}
	names := members(c, "LaunchConfigurationNames")
	ls := c.region.launch
	now := s.now()
	acct := accountID(c.account)
	x := c.startXML("DescribeLaunchConfigurationsResponse")
	x.Open("DescribeLaunchConfigurationsResult")
	x.Open("LaunchConfigurations")
	page, next := pageByName(ls.configs, func(lc *fleet.LaunchConfiguration) string { return lc.Name }, names, after, limit)
	for _, lc := range page {
		x.Open("member")
		x.Elem("LaunchConfigurationName", lc.Name)
		x.Elem("LaunchConfigurationARN", fmt.Sprintf("arn:%s:autoscaling:%s:%s:launchConfiguration:%s:launchConfigurationName/%s", c.s.partition, c.region.name, acct, groupUUID("lc/"+lc.Name), lc.Name))
		x.Elem("ImageId", lc.ImageID)
		it := lc.InstanceType
		if it == "" {
			it = "t3.micro"
		}
		x.Elem("InstanceType", it)
		x.Elem("KernelId", "")
		x.Elem("RamdiskId", "")
		x.Open("SecurityGroups")
		x.Close("SecurityGroups")
		x.Elem("UserData", "")
		x.Open("BlockDeviceMappings")
		x.Close("BlockDeviceMappings")
		x.Open("InstanceMonitoring")
		x.ElemBool("Enabled", false)
		x.Close("InstanceMonitoring")
		x.Elem("CreatedTime", lc.CreatedTime.At(now).UTC().Format("2006-01-02T15:04:05.000Z"))
		x.ElemBool("EbsOptimized", false)
		if m := lc.MetadataOptions; m != nil {
			x.Open("MetadataOptions")
			if m.HttpTokens != "" {
				x.Elem("HttpTokens", m.HttpTokens)
			}
			if m.HttpPutResponseHopLimit != 0 {
				x.ElemInt("HttpPutResponseHopLimit", int64(m.HttpPutResponseHopLimit))
			}
			if m.HttpEndpoint != "" {
				x.Elem("HttpEndpoint", m.HttpEndpoint)
			}
			x.Close("MetadataOptions")
		}
		x.Close("member")
	}
	x.Close("LaunchConfigurations")
	if next != "" {
		x.Elem("NextToken", next)
	}
	x.Close("DescribeLaunchConfigurationsResult")
	c.endXML(x, "DescribeLaunchConfigurationsResponse")
	return "ok"
}

// pageByName is Auto Scaling's paging over a list sorted by name: the items
// named in names (all when none), after the previous page's last name, at
// most limit of them, and the NextToken when more remain.
func pageByName[T any](items []T, name func(T) string, names []string, after string, limit int) (page []T, next string) {
	for _, it := range items {
		n := name(it)
		if len(names) > 0 && !contains(names, n) || after != "" && n <= after {
			continue
		}
		if len(page) == limit {
			return page, encodeToken(name(page[len(page)-1]))
		}
		page = append(page, it)
	}
	return page, ""
}
