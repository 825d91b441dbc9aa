package policy

import (
	"fmt"
	"strings"
)

// TagMatcher recognises a container host by one tag: Key is matched exactly,
// or as a prefix when it ends in "*"; Value, when HasValue, must match
// exactly.
type TagMatcher struct {
	Key      string
	Value    string
	HasValue bool
}

// DefaultContainerTags are the tags that mark EKS, Kubernetes, Karpenter
// and ECS container hosts.
func DefaultContainerTags() []TagMatcher {
	return []TagMatcher{
		{Key: "eks:cluster-name"},
		{Key: "aws:eks:cluster-name"},
		{Key: "eks:eks-cluster-name"},
		{Key: "kubernetes.io/cluster/*"},
		{Key: "karpenter.sh/nodepool"},
		{Key: "AmazonECSManaged"},
	}
}

// ParseTagMatcher parses a --container-tag value: KEY or KEY=VALUE; KEY may
// end in "*" to match a prefix.
func ParseTagMatcher(s string) (TagMatcher, error) {
	key, value, hasValue := strings.Cut(s, "=")
	if key == "" || key == "*" {
		return TagMatcher{}, fmt.Errorf("container tag %q: want KEY or KEY=VALUE (KEY may end in *), e.g. team:k8s-node or nodegroup=gpu", s)
	}
	return TagMatcher{Key: key, Value: value, HasValue: hasValue}, nil
}

// String renders m in the form ParseTagMatcher reads.
func (m TagMatcher) String() string {
	if m.HasValue {
		return m.Key + "=" + m.Value
	}
	return m.Key
}

// Match reports whether tags carry a tag m recognises.
func (m TagMatcher) Match(tags map[string]string) bool {
	if prefix, ok := strings.CutSuffix(m.Key, "*"); ok {
		for k, v := range tags {
			if strings.HasPrefix(k, prefix) && (!m.HasValue || v == m.Value) {
				return true
			}
		}
		return false
	}
	v, ok := tags[m.Key]
	return ok && (!m.HasValue || v == m.Value)
}

// IsContainerHost reports whether any matcher recognises tags.
func IsContainerHost(tags map[string]string, matchers []TagMatcher) bool {
	for _, m := range matchers {
		if m.Match(tags) {
			return true
		}
	}
	return false
}
