package sim

import "sync"

// Stats are counters per API and Region: Calls[api][region] counts every
// request received (throttled and faulted ones included), Throttled the
// answers refused by a token bucket, Faults the injected faults (errors and
// connection resets). api is the operation name ("DescribeInstances",
// "GetMetricData", "AssumeRole", …); region is "" for STS and for requests
// without a SigV4 scope.
type Stats struct {
	Calls     map[string]map[string]int `json:"calls"`
	Throttled map[string]map[string]int `json:"throttled"`
	Faults    map[string]map[string]int `json:"faults"`
}

// Total sums one counter over every API and Region.
func Total(c map[string]map[string]int) int {
	n := 0
	for _, byRegion := range c {
		for _, v := range byRegion {
			n += v
		}
	}
	return n
}

type stats struct {
	mu sync.Mutex
	s  Stats
}

func (st *stats) init() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.s = Stats{Calls: map[string]map[string]int{}, Throttled: map[string]map[string]int{}, Faults: map[string]map[string]int{}}
}

type counter int

const (
	countCall counter = iota
	countThrottle
	countFault
)

func (st *stats) add(c counter, api, region string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	m := st.s.Calls
	switch c {
	case countThrottle:
		m = st.s.Throttled
	case countFault:
		m = st.s.Faults
	}
	byRegion := m[api]
	if byRegion == nil {
		byRegion = map[string]int{}
		m[api] = byRegion
	}
	byRegion[region]++
}

func copyCounts(m map[string]map[string]int) map[string]map[string]int {
	out := make(map[string]map[string]int, len(m))
	for api, byRegion := range m {
		c := make(map[string]int, len(byRegion))
		for r, v := range byRegion {
			c[r] = v
		}
		out[api] = c
	}
	return out
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.stats.mu.Lock()
	defer s.stats.mu.Unlock()
	return Stats{
		Calls:     copyCounts(s.stats.s.Calls),
		Throttled: copyCounts(s.stats.s.Throttled),
		Faults:    copyCounts(s.stats.s.Faults),
	}
}

// ResetStats zeroes the counters (ModifyCalls are kept).
func (s *Server) ResetStats() { s.stats.init() }
