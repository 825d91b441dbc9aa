package fleet

import (
	"math"
	"slices"
	"time"
)

// CloudWatch basic monitoring as the simulated AWS models it.
const (
	// Retention is how long CloudWatch keeps datapoints (hourly ones).
	Retention = 455 * 24 * time.Hour
	// Slot is the basic-monitoring publishing interval: a running instance
	// publishes one datapoint per Slot, timestamped at the Slot's start
	// (slots are aligned to the Unix epoch).
	Slot = 5 * time.Minute

	// Ages beyond which CloudWatch only keeps 5-minute, then 1-hour data.
	minuteDataAge  = 15 * 24 * time.Hour
	fiveMinDataAge = 63 * 24 * time.Hour
)

// Bucket is the aggregate of one Period of one metric of one instance.
// Only buckets holding at least one datapoint exist; a running instance that
// made no IMDS calls publishes zeros, so Sum 0 is data, not a gap. Every
// datapoint is a whole number of calls, so Sum, Minimum and Maximum are
// whole numbers too.
type Bucket struct {
	// Start is the bucket's timestamp (aligned to the query's start time).
	Start time.Time
	// Sum of the calls in the bucket's datapoints.
	Sum float64
	// SampleCount is the number of 5-minute datapoints in the bucket.
	SampleCount int
	// Minimum and Maximum are the smallest and largest datapoint.
	Minimum, Maximum float64
}

// Resolution is the granularity of the data CloudWatch still holds for a
// query starting at start: 1 minute within 15 days of now, 5 minutes
// within 63 days, 1 hour beyond. A period must be a multiple of it and the
// start time is rounded down to it.
func Resolution(now, start time.Time) time.Duration {
	switch age := now.Sub(start); {
	case age > fiveMinDataAge:
		return time.Hour
	case age > minuteDataAge:
		return 5 * time.Minute
	default:
		return time.Minute
	}
}

// AlignStart rounds start down as CloudWatch does for its age (see
// [Resolution]); buckets then start at the result and every period after.
func AlignStart(now, start time.Time) time.Time {
	return start.Truncate(Resolution(now, start))
}

// Buckets returns the Period buckets of metric (MetricNoToken or
// MetricNoTokenRejected) between start and end in which the instance
// published datapoints, oldest first. See [Instance.AppendBuckets].
func (in *Instance) Buckets(metric string, now, start, end time.Time, period time.Duration) []Bucket {
	return in.AppendBuckets(nil, metric, now, start, end, period)
}

// span is a half-open interval of Unix nanoseconds.
type span struct {
	from, to int64
}

// rateEvent changes the call rate by delta at t.
type rateEvent struct {
	t     int64
	delta float64
}

// AppendBuckets appends the buckets [Instance.Buckets] returns to dst and
// returns the extended slice, so a caller can reuse one buffer.
//
// The model: the instance publishes one datapoint per 5-minute [Slot] in
// which it ran (Running intervals, or launch to now for a running instance
// without any). A datapoint counts calls, so it is a whole number: with v the
// exact calls its Usage segments of metric made while it ran in the slot
// (PerHour × time, 0 outside every segment), slot i (Unix time / Slot)
// publishes
//
//	floor(v) + floor((i+1)·f + c) − floor(i·f + c),   f = frac(v),
//
// where c ∈ [0,1) is a hash of the instance ID and metric. That is
// floor(v + frac(i·f + c)): v dithered by a per-slot offset that depends
// neither on the query nor on other slots, so the value is 0 or 1 for v in
// (0,1), at least 1 for v ≥ 1, exactly v for a whole v, and a run of slots
// worth v each sums to within 1 of its exact total (so long-run totals match
// PerHour × hours). v is first rounded to a multiple of 1/(3600·2¹⁶), which
// is exact for whole-number rates over whole seconds.
//
// A datapoint belongs to the bucket containing its timestamp. start is
// rounded down by [AlignStart]; buckets are [start+k·period,
// start+(k+1)·period) truncated at end. Nothing exists before launch, after
// now, or older than [Retention].
//
// Cost is O(segments·log segments + buckets), whatever the time range: a run
// of full slots at one rate is summed in O(1) since the dithered values
// telescope.
func (in *Instance) AppendBuckets(dst []Bucket, metric string, now, start, end time.Time, period time.Duration) []Bucket {
	if period <= 0 || (metric != MetricNoToken && metric != MetricNoTokenRejected && metric != MetricStatusCheckFailed) {
		return dst
	}
	start = AlignStart(now, start)
	if !start.Before(end) {
		return dst
	}
	launch := in.LaunchTime.At(now)
	lo := maxInt64(launch.UnixNano(), now.Add(-Retention).UnixNano())
	hi := now.UnixNano()
	if lo >= hi {
		return dst
	}

	var runBuf [8]span
	running := in.runningSpans(runBuf[:0], now, lo, hi)
	if len(running) == 0 {
		return dst
	}
	var evBuf [16]rateEvent
	events := in.rateEvents(evBuf[:0], metric, now)

	q := bucketGrid{start: start.UnixNano(), end: end.UnixNano(), period: int64(period)}
	d := newDither(in.ID, metric)
	acc := bucketAcc{k: -1, slot: -1, d: d}
	emit := func() {
		if acc.k >= 0 && acc.samples > 0 {
			dst = append(dst, Bucket{
				Start:       time.Unix(0, q.start+acc.k*q.period).UTC(),
				Sum:         acc.sum,
				SampleCount: acc.samples,
				Minimum:     acc.min,
				Maximum:     acc.max,
			})
		}
	}
	// piece feeds one constant-rate interval to the buckets it covers.
	piece := func(a, b int64, perHour float64) {
		for a < b {
			k, effEnd, ok := q.locate(a)
			if !ok {
				return
			}
			if k < 0 { // before the first bucket
				a = effEnd
				continue
			}
			if k != acc.k {
				acc.flushSlot()
				emit()
				acc = bucketAcc{k: k, slot: -1, d: d}
			}
			e := minInt64(b, effEnd)
			acc.add(a, e, perHour)
			a = e
		}
	}

	// Sweep the running spans against the rate change events.
	rate, ei := 0.0, 0
	for _, r := range running {
		for ei < len(events) && events[ei].t <= r.from {
			rate += events[ei].delta
			ei++
		}
		cur := r.from
		for ei < len(events) && events[ei].t < r.to {
			if t := events[ei].t; t > cur {
				piece(cur, t, clampRate(rate))
				cur = t
			}
			rate += events[ei].delta
			ei++
		}
		piece(cur, r.to, clampRate(rate))
	}
	acc.flushSlot()
	emit()
	return dst
}

// runningSpans returns the instance's running intervals clipped to [lo, hi),
// sorted and merged.
func (in *Instance) runningSpans(dst []span, now time.Time, lo, hi int64) []span {
	if in.Running == nil {
		switch in.State {
		case "running", "pending", "stopping":
			return append(dst, span{from: lo, to: hi})
		}
		return dst
	}
	for _, iv := range in.Running {
		a := maxInt64(iv.From.At(now).UnixNano(), lo)
		b := minInt64(iv.To.At(now).UnixNano(), hi)
		if a < b {
			dst = append(dst, span{from: a, to: b})
		}
	}
	if len(dst) < 2 {
		return dst
	}
	slices.SortFunc(dst, func(x, y span) int { return cmpInt64(x.from, y.from) })
	merged := dst[:1]
	for _, s := range dst[1:] {
		last := &merged[len(merged)-1]
		if s.from <= last.to {
			last.to = maxInt64(last.to, s.to)
			continue
		}
		merged = append(merged, s)
	}
	return merged
}

// rateEvents returns the sorted rate changes of metric's usage segments.
func (in *Instance) rateEvents(dst []rateEvent, metric string, now time.Time) []rateEvent {
	if metric == MetricStatusCheckFailed {
		// A failed check is 1 per slot: a rate of one per slot.
		for _, iv := range in.StatusCheckFailed {
			a, b := iv.From.At(now).UnixNano(), iv.To.At(now).UnixNano()
			if a < b {
				dst = append(dst, rateEvent{t: a, delta: slotsPerHour}, rateEvent{t: b, delta: -slotsPerHour})
			}
		}
	}
	for _, u := range in.Usage {
		if u.Metric != metric || u.PerHour == 0 {
			continue
		}
		a, b := u.From.At(now).UnixNano(), u.To.At(now).UnixNano()
		if a >= b {
			continue
		}
		dst = append(dst, rateEvent{t: a, delta: u.PerHour}, rateEvent{t: b, delta: -u.PerHour})
	}
	if len(dst) > 2 {
		slices.SortFunc(dst, func(x, y rateEvent) int { return cmpInt64(x.t, y.t) })
	}
	return dst
}

// clampRate removes the residue floating-point sums leave when overlapping
// segments end.
func clampRate(r float64) float64 {
	if r < 1e-9 {
		return 0
	}
	return r
}

// bucketGrid is a query's buckets. A bucket's datapoints are those whose
// slot starts inside it, so the time it effectively covers is
// [ceilSlot(bucket start), ceilSlot(bucket end)).
type bucketGrid struct {
	start, end, period int64
}

// locate returns the bucket whose effective range holds t and that range's
// end; k is -1 when t lies before the first bucket (effEnd is then where
// the first one begins) and ok is false when t lies after the last bucket.
func (q bucketGrid) locate(t int64) (k, effEnd int64, ok bool) {
	if first := ceilSlot(q.start); t < first {
		return -1, first, true
	}
	k = (t - q.start) / q.period
	for k > 0 && ceilSlot(q.start+k*q.period) > t {
		k--
	}
	for {
		bEnd := minInt64(q.start+(k+1)*q.period, q.end)
		if q.start+k*q.period >= q.end {
			return 0, 0, false
		}
		if ce := ceilSlot(bEnd); t < ce {
			return k, ce, true
		}
		k++
	}
}

// bucketAcc accumulates one bucket, slot by slot.
type bucketAcc struct {
	k        int64
	sum      float64
	samples  int
	min, max float64
	slot     int64 // slot index being accumulated, -1 when none
	slotVal  float64
	d        dither
}

// add accounts calls at perHour during [a, b), which lies in the bucket.
func (acc *bucketAcc) add(a, b int64, perHour float64) {
	sa, sb := floorDiv(a, int64(Slot)), floorDiv(b-1, int64(Slot))
	if sa != acc.slot {
		acc.flushSlot()
		acc.slot, acc.slotVal = sa, 0
	}
	if sa == sb {
		acc.slotVal += perHour * hours(b-a)
		return
	}
	acc.slotVal += perHour * hours((sa+1)*int64(Slot)-a)
	acc.flushSlot()
	if full := sb - sa - 1; full > 0 {
		acc.sample(perHour*hours(int64(Slot)), sa+1, full)
	}
	acc.slot, acc.slotVal = sb, perHour*hours(b-sb*int64(Slot))
}

// flushSlot records the slot being accumulated as one datapoint.
func (acc *bucketAcc) flushSlot() {
	if acc.slot >= 0 {
		acc.sample(acc.slotVal, acc.slot, 1)
		acc.slot = -1
	}
}

// sample records the n datapoints of slots first.. first+n-1, each worth v
// calls before dithering.
func (acc *bucketAcc) sample(v float64, first, n int64) {
	sum, lo, hi := acc.d.run(v, first, n)
	if acc.samples == 0 || lo < acc.min {
		acc.min = lo
	}
	if acc.samples == 0 || hi > acc.max {
		acc.max = hi
	}
	acc.samples += int(n)
	acc.sum += sum
}

// ditherOne is 1 in the fixed point [dither] rounds a slot's value to:
// 1/(3600·2¹⁶) represents PerHour × seconds / 3600 exactly for whole-number
// rates and whole seconds, and slot index × ditherOne stays far below 2⁶³
// (slot indices of int64 nanosecond times are below 2²⁵).
const ditherOne = 3600 << 16

// maxDithered is the largest slot value rounded to the fixed point; larger
// ones (absurd rates) are just rounded down.
const maxDithered = 1 << 34

// dither turns a slot's exact value v into whole calls: slot i publishes
// floor(v + frac(i·f + c)) with f = frac(v), which for a run of slots
// telescopes to floor(v)·n + floor(b·f + c) − floor(a·f + c).
type dither struct {
	c int64 // offset c in units of 1/ditherOne, in [0, ditherOne)
}

// newDither returns the dither of one instance's metric: c is FNV-64a of
// the ID and metric, mixed by the splitmix64 finalizer.
func newDither(id, metric string) dither {
	const offset64, prime64 = 14695981039346656037, 1099511628211
	h := uint64(offset64)
	for i := 0; i < len(id); i++ {
		h = (h ^ uint64(id[i])) * prime64
	}
	h = (h ^ 0xff) * prime64 // separator: no ID+metric pair collides by concatenation
	for i := 0; i < len(metric); i++ {
		h = (h ^ uint64(metric[i])) * prime64
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return dither{c: int64(h % ditherOne)}
}

// run returns the sum, minimum and maximum of the whole-call values of the
// n ≥ 1 slots first.. first+n-1, each worth v calls exactly.
func (d dither) run(v float64, first, n int64) (sum, lo, hi float64) {
	if v >= maxDithered || !(v > 0) {
		w := math.Floor(max(v, 0))
		return w * float64(n), w, w
	}
	fixed := int64(math.Round(v * ditherOne))
	w, f := float64(fixed/ditherOne), fixed%ditherOne
	if f == 0 {
		return w * float64(n), w, w
	}
	// ups: slots among the n whose value is w+1.
	ups := floorDiv((first+n)*f+d.c, ditherOne) - floorDiv(first*f+d.c, ditherOne)
	lo, hi = w, w
	if ups == n {
		lo = w + 1
	}
	if ups > 0 {
		hi = w + 1
	}
	return w*float64(n) + float64(ups), lo, hi
}

func hours(ns int64) float64 { return float64(ns) / float64(time.Hour) }

// ceilSlot rounds t (Unix nanoseconds) up to a slot boundary.
func ceilSlot(t int64) int64 {
	s := int64(Slot)
	f := floorDiv(t, s) * s
	if f == t {
		return t
	}
	return f + s
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func minInt64(a, b int64) int64 { return min(a, b) }
func maxInt64(a, b int64) int64 { return max(a, b) }

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
