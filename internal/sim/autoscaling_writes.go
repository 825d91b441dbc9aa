package sim

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
)

// updateAutoScalingGroup changes what a group launches from: LaunchTemplate,
// MixedInstancesPolicy (its LaunchTemplateSpecification and, when given,
// its whole Overrides list; what is not given is kept) or
// LaunchConfigurationName, and MinSize/MaxSize. Auto Scaling has no
// DryRun. Errors are ValidationError, worded as AWS words them
// (docs/aws-facts.md#launch-source-writes).
func (s *Server) updateAutoScalingGroup(c *call) string {
	form := c.form()
	invalid := func(msg string) string { return c.fail(http.StatusBadRequest, "ValidationError", msg) }
	name := form.Get("AutoScalingGroupName")
	if name == "" {
		return invalid("1 validation error detected: Value null at 'autoScalingGroupName' failed to satisfy constraint: Member must not be null")
	}
	has := func(prefix string) bool {
		for k := range form {
			if k == prefix || strings.HasPrefix(k, prefix+".") {
				return true
			}
		}
		return false
	}
	sources := 0
	for _, p := range []string{"LaunchTemplate", "MixedInstancesPolicy", "LaunchConfigurationName"} {
		if has(p) {
			sources++
		}
	}
	if sources > 1 {
		return invalid("Valid requests must contain either LaunchTemplate, LaunchConfigurationName or MixedInstancesPolicy parameter.")
	}
	var minSize, maxSize *int32
	for _, p := range []struct {
		key string
		dst **int32
	}{{"MinSize", &minSize}, {"MaxSize", &maxSize}} {
		if v := form.Get(p.key); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return invalid(fmt.Sprintf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have value greater than or equal to 0", v, strings.ToLower(p.key[:1])+p.key[1:]))
			}
			n32 := int32(n)
			*p.dst = &n32
		}
	}

	ls := c.region.launch
	ls.mu.Lock()
	defer ls.mu.Unlock()
	g := ls.groupByName[name]
	if g == nil {
		return invalid("AutoScalingGroup name not found - null")
	}
	updated := *g
	// spec reads one LaunchTemplateSpecification under prefix and checks
	// it against the Region's templates.
	spec := func(prefix string) (*fleet.LaunchTemplateRef, string) {
		id, lname, version := form.Get(prefix+".LaunchTemplateId"), form.Get(prefix+".LaunchTemplateName"), form.Get(prefix+".Version")
		if id != "" && lname != "" || id == "" && lname == "" {
			return nil, invalid("Valid requests must contain either launchTemplateId or LaunchTemplateName")
		}
		if version != "" && version != fleet.VersionLatest && version != fleet.VersionDefault && !isVersionNumber(version) {
			return nil, invalid("Invalid launch template version: either '$Default', '$Latest', or a numeric version are allowed.")
		}
		var lt *fleet.LaunchTemplate
		if id != "" {
			if lt = ls.templateByID[id]; lt == nil {
				return nil, invalid(fmt.Sprintf("The specified launch template, with template ID %s, does not exist.", id))
			}
		} else if lt = ls.templateByName[lname]; lt == nil {
			return nil, invalid(fmt.Sprintf("The specified launch template, with template name %s, does not exist.", lname))
		}
		if isVersionNumber(version) {
			if _, ok := lt.Version(version); !ok {
				return nil, invalid(fmt.Sprintf("You must use a valid fully-formed launch template. Could not find the specified version %s for the launch template with ID %s.", version, lt.ID))
			}
		}
		return &fleet.LaunchTemplateRef{ID: lt.ID, Name: lt.Name, Version: version}, ""
	}
	switch {
	case has("LaunchTemplate"):
		ref, out := spec("LaunchTemplate")
		if out != "" {
			return out
		}
		updated.LaunchTemplate, updated.MixedInstancesPolicy, updated.LaunchConfigurationName = ref, nil, ""
	case has("MixedInstancesPolicy"):
		m := fleet.MixedInstancesPolicy{}
		if g.MixedInstancesPolicy != nil {
			m = *g.MixedInstancesPolicy
		}
		const lt = "MixedInstancesPolicy.LaunchTemplate"
		if has(lt + ".LaunchTemplateSpecification") {
			ref, out := spec(lt + ".LaunchTemplateSpecification")
			if out != "" {
				return out
			}
			m.LaunchTemplate = *ref
		} else if g.MixedInstancesPolicy == nil {
			return invalid("You must specify a launch template (LaunchTemplateSpecification) when you add a mixed instances policy to a group.")
		}
		if has(lt + ".Overrides") {
			var overrides []fleet.Override
			for i := 1; ; i++ {
				p := fmt.Sprintf("%s.Overrides.member.%d", lt, i)
				if !has(p) {
					break
				}
				o := fleet.Override{InstanceType: form.Get(p + ".InstanceType")}
				if has(p + ".LaunchTemplateSpecification") {
					ref, out := spec(p + ".LaunchTemplateSpecification")
					if out != "" {
						return out
					}
					o.LaunchTemplate = ref
				}
				overrides = append(overrides, o)
			}
			m.Overrides = overrides
		}
		updated.MixedInstancesPolicy, updated.LaunchTemplate, updated.LaunchConfigurationName = &m, nil, ""
	case has("LaunchConfigurationName"):
		lc := form.Get("LaunchConfigurationName")
		if ls.configByName[lc] == nil {
			return invalid(fmt.Sprintf("Launch configuration name not found - Launch configuration %s not found", lc))
		}
		updated.LaunchConfigurationName, updated.LaunchTemplate, updated.MixedInstancesPolicy = lc, nil, nil
	}
	if minSize != nil {
		updated.MinSize = *minSize
	}
	if maxSize != nil {
		updated.MaxSize = *maxSize
	}
	if updated.MaxSize != 0 && updated.MinSize > updated.MaxSize {
		return invalid(fmt.Sprintf("Max bound, %d, must be greater than or equal to min bound, %d", updated.MaxSize, updated.MinSize))
	}
	*g = updated
	x := c.startXML("UpdateAutoScalingGroupResponse")
	c.endXML(x, "UpdateAutoScalingGroupResponse")
	return "ok"
}

func isVersionNumber(v string) bool {
	n, err := strconv.ParseInt(v, 10, 64)
	return err == nil && n > 0 && strconv.FormatInt(n, 10) == v
}
