package scanner

import "sync/atomic"

// Progress counts a running scan's work. The scanner updates it atomically;
// a display may read it at any time with [Progress.Snapshot]. A nil
// *Progress is valid and counts nothing.
type Progress struct {
	targetsTotal, targetsDone, instances, apiCalls atomic.Int64
}

// ProgressSnapshot is one reading of a [Progress].
type ProgressSnapshot struct {
	TargetsTotal, TargetsDone int64
	// Instances counts instances seen so far (terminated included).
	Instances int64
	// APICalls counts AWS API calls answered (pages; SDK retries not counted).
	APICalls int64
}

// Snapshot reads the counters.
func (p *Progress) Snapshot() ProgressSnapshot {
	if p == nil {
		return ProgressSnapshot{}
	}
	return ProgressSnapshot{
		TargetsTotal: p.targetsTotal.Load(),
		TargetsDone:  p.targetsDone.Load(),
		Instances:    p.instances.Load(),
		APICalls:     p.apiCalls.Load(),
	}
}

func (p *Progress) addTargets(n int) {
	if p != nil {
		p.targetsTotal.Add(int64(n))
	}
}

func (p *Progress) targetDone() {
	if p != nil {
		p.targetsDone.Add(1)
	}
}

func (p *Progress) addInstances(n int) {
	if p != nil {
		p.instances.Add(int64(n))
	}
}

func (p *Progress) call() {
	if p != nil {
		p.apiCalls.Add(1)
	}
}
