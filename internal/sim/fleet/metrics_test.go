package fleet

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

var testNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

func iv(from, to time.Duration) Interval { return Interval{From: Rel(from), To: Rel(to)} }

func use(metric string, from, to time.Duration, perHour float64) UsageSegment {
	return UsageSegment{Metric: metric, From: Rel(from), To: Rel(to), PerHour: perHour}
}

// want is a compact expected bucket: offset of its start from testNow, Sum
// and SampleCount.
type want struct {
	at      time.Duration
	sum     float64
	samples int
}

func TestBuckets(t *testing.T) {
	const nt = MetricNoToken
	running := func(launch time.Duration, usage ...UsageSegment) Instance {
		return Instance{ID: "i-1", State: "running", LaunchTime: Rel(launch), Usage: usage}
	}
	daily := func(from, to int, sum float64) []want {
		var w []want
		for d := from; d < to; d++ {
			w = append(w, want{at: time.Duration(d) * day, sum: sum, samples: 288})
		}
		return w
	}
	join := func(parts ...[]want) []want {
		var w []want
		for _, p := range parts {
			w = append(w, p...)
		}
		return w
	}
	tests := []struct {
		name       string
		in         Instance
		metric     string
		start, end time.Duration // relative to testNow
		period     time.Duration
		want       []want
	}{
		{
			name:  "running all window, constant rate",
			in:    running(-30*day, use(nt, -30*day, 0, 10)),
			start: -14 * day, end: 0, period: day,
			want: daily(-14, 0, 240),
		},
		{
			name: "stopped gap leaves no buckets",
			in: Instance{State: "running", LaunchTime: Rel(-30 * day),
				Running: []Interval{iv(-30*day, -10*day), iv(-8*day, 0)},
				Usage:   []UsageSegment{use(nt, -30*day, 0, 10)}},
			start: -14 * day, end: 0, period: day,
			want: join(daily(-14, -10, 240), daily(-8, 0, 240)),
		},
		{
			name: "partial day at the end of a running interval",
			in: Instance{State: "stopped", LaunchTime: Rel(-30 * day),
				Running: []Interval{iv(-30*day, -13*day-12*time.Hour)},
				Usage:   []UsageSegment{use(nt, -30*day, 0, 10)}},
			start: -14 * day, end: 0, period: day,
			want: []want{{at: -14 * day, sum: 120, samples: 144}},
		},
		{
			name:  "launch mid-window, nil Running means launch to now",
			in:    running(-3*day-6*time.Hour, use(nt, -30*day, 0, 10)),
			start: -14 * day, end: 0, period: day,
			want: join([]want{{at: -4 * day, sum: 60, samples: 72}}, daily(-3, 0, 240)),
		},
		{
			name:  "segment boundary on a bucket boundary",
			in:    running(-30*day, use(nt, -14*day, -7*day, 10), use(nt, -7*day, 0, 20)),
			start: -14 * day, end: 0, period: day,
			want: join(daily(-14, -7, 240), daily(-7, 0, 480)),
		},
		{
			name:  "segment inside a bucket, zeros elsewhere",
			in:    running(-30*day, use(nt, -2*day, -36*time.Hour, 6)),
			start: -4 * day, end: 0, period: day,
			want: []want{{-4 * day, 0, 288}, {-3 * day, 0, 288}, {-2 * day, 72, 288}, {-1 * day, 0, 288}},
		},
		{
			name:  "overlapping segments add up",
			in:    running(-30*day, use(nt, -2*day, 0, 1), use(nt, -1*day, 0, 2)),
			start: -2 * day, end: 0, period: day,
			want: []want{{-2 * day, 24, 288}, {-1 * day, 72, 288}},
		},
		{
			name:  "other metric's segments publish zero for this one",
			in:    running(-30*day, use(MetricNoTokenRejected, -30*day, 0, 50)),
			start: -2 * day, end: 0, period: day,
			want: daily(-2, 0, 0),
		},
		{
			name:   "rejected metric",
			in:     running(-30*day, use(MetricNoTokenRejected, -30*day, 0, 50)),
			metric: MetricNoTokenRejected,
			start:  -1 * day, end: 0, period: day,
			want: []want{{-1 * day, 1200, 288}},
		},
		{
			name:  "stopped instance without history publishes nothing",
			in:    Instance{State: "stopped", LaunchTime: Rel(-30 * day), Usage: []UsageSegment{use(nt, -30*day, 0, 10)}},
			start: -14 * day, end: 0, period: day,
		},
		{
			name:  "terminated instance keeps its history",
			in:    Instance{State: "terminated", LaunchTime: Rel(-30 * day), Running: []Interval{iv(-30*day, -13*day)}},
			start: -14 * day, end: 0, period: day,
			want: []want{{-14 * day, 0, 288}},
		},
		{
			name:  "nothing after now",
			in:    running(-30*day, use(nt, -30*day, 0, 10)),
			start: -2 * day, end: 2 * day, period: day,
			want: daily(-2, 0, 240),
		},
		{
			name:  "now inside a bucket: partial sum",
			in:    running(-30*day, use(nt, -30*day, 0, 10)),
			start: -36 * time.Hour, end: 0, period: day,
			want: []want{{-36 * time.Hour, 240, 288}, {-12 * time.Hour, 120, 144}},
		},
		{
			name:  "nothing before launch",
			in:    running(-1*day, use(nt, -30*day, 0, 10)),
			start: -3 * day, end: 0, period: day,
			want: daily(-1, 0, 240),
		},
		{
			name:  "nothing older than retention",
			in:    running(-600*day, use(nt, -600*day, 0, 1)),
			start: -460 * day, end: -450 * day, period: day,
			want: daily(-455, -450, 24),
		},
		{
			name:  "start within 15 days rounds down to the minute",
			in:    running(-30*day, use(nt, -30*day, 0, 12)),
			start: -2*time.Hour + 90*time.Second, end: 0, period: time.Hour,
			// start becomes -2h+1m; slots at -2h+5m.. belong to the first bucket,
			// the slot at -1h+0m to the first bucket too (its start is before -1h+1m).
			want: []want{{-2*time.Hour + time.Minute, 12, 12}, {-1*time.Hour + time.Minute, 11, 11}},
		},
		{
			name:  "start 20 days ago rounds down to 5 minutes",
			in:    running(-30*day, use(nt, -30*day, 0, 12)),
			start: -20*day + 7*time.Minute, end: -20*day + 2*time.Hour, period: time.Hour,
			want: []want{{-20*day + 5*time.Minute, 12, 12}, {-19*day - 23*time.Hour + 5*time.Minute, 11, 11}},
		},
		{
			name:  "start 100 days ago rounds down to the hour",
			in:    running(-300*day, use(nt, -300*day, 0, 12)),
			start: -100*day + 59*time.Minute, end: -100*day + 2*time.Hour, period: time.Hour,
			want: []want{{-100 * day, 12, 12}, {-100*day + time.Hour, 12, 12}},
		},
		{
			name:  "one-minute period: a datapoint every fifth bucket",
			in:    running(-30*day, use(nt, -30*day, 0, 12)),
			start: -10 * time.Minute, end: 0, period: time.Minute,
			want: []want{{-10 * time.Minute, 1, 1}, {-5 * time.Minute, 1, 1}},
		},
		{
			name: "a slot the instance ran in briefly is a datapoint",
			in: Instance{State: "stopped", LaunchTime: Rel(-30 * day),
				Running: []Interval{iv(-1*time.Hour, -1*time.Hour+2*time.Minute)},
				Usage:   []UsageSegment{use(nt, -30*day, 0, 60)}},
			start: -1 * day, end: 0, period: day,
			want: []want{{-1 * day, 2, 1}},
		},
		{
			name: "overlapping running intervals count once",
			in: Instance{State: "stopped", LaunchTime: Rel(-30 * day),
				Running: []Interval{iv(-2*day, -1*day), iv(-36*time.Hour, -1*day), iv(-1*day-time.Hour, -12*time.Hour)},
				Usage:   []UsageSegment{use(nt, -30*day, 0, 1)}},
			start: -2 * day, end: 0, period: day,
			want: []want{{-2 * day, 24, 288}, {-1 * day, 12, 144}},
		},
		{
			name:   "unknown metric",
			in:     running(-30*day, use(nt, -30*day, 0, 10)),
			metric: "CPUUtilization",
			start:  -2 * day, end: 0, period: day,
		},
		{
			name:  "empty window",
			in:    running(-30*day, use(nt, -30*day, 0, 10)),
			start: -1 * day, end: -1 * day, period: day,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			metric := tc.metric
			if metric == "" {
				metric = MetricNoToken
			}
			got := tc.in.Buckets(metric, testNow, testNow.Add(tc.start), testNow.Add(tc.end), tc.period)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d buckets %v, want %d %v", len(got), fmtBuckets(got), len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				g := got[i]
				if !g.Start.Equal(testNow.Add(w.at)) || !near(g.Sum, w.sum) || g.SampleCount != w.samples {
					t.Errorf("bucket %d = {%s %v %d}, want {%s %v %d}", i,
						g.Start.Sub(testNow), g.Sum, g.SampleCount, w.at, w.sum, w.samples)
				}
			}
		})
	}
}

// TestBucketsMinMax checks Minimum and Maximum where a slot is partly
// covered by two rates and partly stopped.
func TestBucketsMinMax(t *testing.T) {
	in := Instance{State: "stopped", LaunchTime: Rel(-day),
		Running: []Interval{iv(-time.Hour, -time.Hour+27*time.Minute+30*time.Second)},
		Usage: []UsageSegment{
			use(MetricNoToken, -day, -time.Hour+12*time.Minute, 12),
			use(MetricNoToken, -time.Hour+12*time.Minute, 0, 120),
		}}
	got := in.Buckets(MetricNoToken, testNow, testNow.Add(-time.Hour), testNow, time.Hour)
	if len(got) != 1 {
		t.Fatalf("got %v, want one bucket", fmtBuckets(got))
	}
	// Slots: [0,5) 1, [5,10) 1, [10,15) 2m·12/h + 3m·120/h = 0.4+6 (published
	// as 6 or 7), [15,20) 10, [20,25) 10, [25,27:30) 5.
	third := refWholeCalls(in.ID, MetricNoToken, testNow.Add(-time.Hour+10*time.Minute).Unix()/300, 6.4)
	if third != 6 && third != 7 {
		t.Fatalf("reference rounds 6.4 to %v", third)
	}
	b := got[0]
	if b.SampleCount != 6 || b.Minimum != 1 || b.Maximum != 10 || b.Sum != 1+1+third+10+10+5 {
		t.Errorf("got %+v, want 6 samples, min 1, max 10, sum %v", b, 27+third)
	}
}

// TestBucketsMatchesSlotModel compares Buckets on random instances and
// queries with a direct slot-by-slot evaluation of the model.
func TestBucketsMatchesSlotModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	minutes := func(lo, hi int) time.Duration { return time.Duration(lo+rng.IntN(hi-lo)) * time.Minute }
	for n := range 300 {
		in := Instance{ID: fmt.Sprintf("i-%08x", rng.Uint32()), State: []string{"running", "stopped", "pending", "terminated"}[rng.IntN(4)], LaunchTime: Rel(-minutes(60, 5*24*60))}
		if rng.IntN(3) > 0 {
			// Disjoint intervals (the oracle below does not merge overlaps;
			// TestBuckets covers overlapping ones), in random order.
			a := -minutes(6*24*60, 8*24*60)
			for range 1 + rng.IntN(4) {
				b := a + minutes(1, 2*24*60)
				in.Running = append(in.Running, iv(a, b))
				a = b + minutes(1, 24*60)
			}
			rng.Shuffle(len(in.Running), func(i, j int) { in.Running[i], in.Running[j] = in.Running[j], in.Running[i] })
		}
		for range rng.IntN(5) {
			a := -minutes(0, 6*24*60)
			rate := float64(rng.IntN(100))
			switch rng.IntN(4) {
			case 0:
				rate /= 4 // fractional rates on the fixed point
			case 1:
				rate = math.Round(rng.Float64()*1e6) / 1e4 // and off it
			}
			in.Usage = append(in.Usage, use([]string{MetricNoToken, MetricNoTokenRejected}[rng.IntN(2)], a, a+minutes(1, 3*24*60), rate))
		}
		start := -minutes(10, 6*24*60) - time.Duration(rng.IntN(60))*time.Second
		end := start + minutes(1, 7*24*60)
		period := []time.Duration{time.Minute, 5 * time.Minute, 7 * time.Minute, time.Hour, 6 * time.Hour, day}[rng.IntN(6)]
		got := in.Buckets(MetricNoToken, testNow, testNow.Add(start), testNow.Add(end), period)
		want := slotModel(&in, MetricNoToken, testNow, testNow.Add(start), testNow.Add(end), period, refWholeCalls)
		if !equalBuckets(got, want) {
			t.Fatalf("case %d: %+v start %s end %s period %s:\n got %s\nwant %s", n, in, start, end, period, fmtBuckets(got), fmtBuckets(want))
		}
		for _, b := range got {
			if !whole(b.Sum) || !whole(b.Minimum) || !whole(b.Maximum) {
				t.Fatalf("case %d: bucket %s is not whole calls", n, fmtBuckets([]Bucket{b}))
			}
		}
	}
}

// refWholeCalls is the reference statement of how a slot's exact value v
// becomes whole calls, written apart from the O(1) run sums of metrics.go:
// v is rounded to a multiple of 1/(3600·2¹⁶); with f its fraction and c
// the instance's hash offset, the slot publishes floor(v) + 1 when
// frac(slot·f + c) ≥ 1 − f, floor(v) otherwise.
func refWholeCalls(id, metric string, slot int64, v float64) float64 {
	const one = 3600 * 65536
	h := fnv.New64a()
	h.Write([]byte(id))
	h.Write([]byte{0xff})
	h.Write([]byte(metric))
	x := h.Sum64()
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	x ^= x >> 31
	c := int64(x % one)
	fixed := int64(math.Round(v * one))
	w, f := fixed/one, fixed%one
	if u := (slot*f + c) % one; u >= one-f {
		w++
	}
	return float64(w)
}

// exactCalls is the model before whole calls: a slot publishes v.
func exactCalls(_, _ string, _ int64, v float64) float64 { return v }

func whole(x float64) bool { return x == math.Trunc(x) }

// equalBuckets compares exactly: with whole calls there is no rounding.
func equalBuckets(a, b []Bucket) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Start.Equal(b[i].Start) || a[i].Sum != b[i].Sum || a[i].SampleCount != b[i].SampleCount ||
			a[i].Minimum != b[i].Minimum || a[i].Maximum != b[i].Maximum {
			return false
		}
	}
	return true
}

// slotModel evaluates the metric model the slow, obvious way: every slot,
// every running interval, every usage segment; calls turns a slot's exact
// value into its datapoint.
func slotModel(in *Instance, metric string, now, start, end time.Time, period time.Duration,
	calls func(id, metric string, slot int64, v float64) float64) []Bucket {
	start = AlignStart(now, start)
	lo := in.LaunchTime.At(now)
	if r := now.Add(-Retention); r.After(lo) {
		lo = r
	}
	running := in.Running
	if running == nil && (in.State == "running" || in.State == "pending" || in.State == "stopping") {
		running = []Interval{{From: Abs(in.LaunchTime.At(now)), To: Abs(now)}}
	}
	overlap := func(a1, b1, a2, b2 time.Time) time.Duration {
		a, b := a1, b1
		if a2.After(a) {
			a = a2
		}
		if b2.Before(b) {
			b = b2
		}
		if b.After(a) {
			return b.Sub(a)
		}
		return 0
	}
	var out []Bucket
	for bs := start; bs.Before(end); bs = bs.Add(period) {
		be := bs.Add(period)
		if be.After(end) {
			be = end
		}
		var b Bucket
		for s := bs.Truncate(Slot); s.Before(be); s = s.Add(Slot) {
			if s.Before(bs) {
				continue
			}
			slotEnd := s.Add(Slot)
			ran, v := false, 0.0
			for _, r := range running {
				ra, rb := r.From.At(now), r.To.At(now)
				if ra.Before(lo) {
					ra = lo
				}
				if rb.After(now) {
					rb = now
				}
				if overlap(s, slotEnd, ra, rb) == 0 {
					continue
				}
				ran = true
				for _, u := range in.Usage {
					if u.Metric != metric {
						continue
					}
					// Clip usage to the running part of the slot.
					ua, ub := u.From.At(now), u.To.At(now)
					a, bb := s, slotEnd
					if ra.After(a) {
						a = ra
					}
					if rb.Before(bb) {
						bb = rb
					}
					v += u.PerHour * overlap(a, bb, ua, ub).Hours()
				}
			}
			if !ran {
				continue
			}
			v = calls(in.ID, metric, s.Unix()/int64(Slot/time.Second), v)
			if b.SampleCount == 0 || v < b.Minimum {
				b.Minimum = v
			}
			if b.SampleCount == 0 || v > b.Maximum {
				b.Maximum = v
			}
			b.SampleCount++
			b.Sum += v
		}
		if b.SampleCount > 0 {
			b.Start = bs.UTC()
			out = append(out, b)
		}
	}
	return out
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-6*math.Max(1, math.Abs(b)) }

func fmtBuckets(bs []Bucket) string {
	s := ""
	for _, b := range bs {
		s += fmt.Sprintf("{%s sum=%.6f n=%d min=%.6f max=%.6f}", b.Start.Format(time.RFC3339), b.Sum, b.SampleCount, b.Minimum, b.Maximum)
	}
	return s
}

func TestAlignStart(t *testing.T) {
	tests := []struct {
		age  time.Duration
		want time.Duration // resolution
	}{
		{time.Hour, time.Minute},
		{15 * day, time.Minute},
		{15*day + time.Second, 5 * time.Minute},
		{63 * day, 5 * time.Minute},
		{63*day + time.Second, time.Hour},
		{400 * day, time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.age.String(), func(t *testing.T) {
			start := testNow.Add(-tc.age)
			if got := Resolution(testNow, start); got != tc.want {
				t.Errorf("Resolution = %s, want %s", got, tc.want)
			}
			s := start.Add(-7*time.Minute - 13*time.Second)
			if got := AlignStart(testNow, s); !got.Equal(s.Truncate(Resolution(testNow, s))) || got.After(s) {
				t.Errorf("AlignStart(%s) = %s", s, got)
			}
		})
	}
}

// TestBucketsWholeCalls checks the properties of whole-call datapoints that
// hold whatever the dither: one-slot values stay within 1 of the exact
// value and above 0 when it is at least 1, long-run totals match
// PerHour × hours, and results depend on neither the query's start nor,
// beyond ±1 in totals, the instance ID.
func TestBucketsWholeCalls(t *testing.T) {
	const nt = MetricNoToken
	history := func(id string, perHour float64) Instance {
		return Instance{ID: id, State: "running", LaunchTime: Rel(-30*day - 150*time.Second),
			Usage: []UsageSegment{use(nt, -30*day, 0, perHour)}}
	}
	rates := []float64{37, 10, 1, 5, 0.5, 7.3, 12, 100, 1234.5678}

	t.Run("every datapoint is whole and within 1 of the exact value", func(t *testing.T) {
		for _, rate := range rates {
			in := history("i-0123456789abcdef0", rate)
			in.Running = []Interval{iv(-3*day-150*time.Second, -2*day+100*time.Second), iv(-2*day+7*time.Minute+13*time.Second, 0)}
			exact := slotModel(&in, nt, testNow, testNow.Add(-3*day-time.Hour), testNow, Slot, exactCalls)
			got := in.Buckets(nt, testNow, testNow.Add(-3*day-time.Hour), testNow, Slot)
			if len(got) != len(exact) || len(got) < 800 {
				t.Fatalf("rate %v: %d datapoints, want %d", rate, len(got), len(exact))
			}
			for i, g := range got {
				v := exact[i].Sum
				if g.SampleCount != 1 || !whole(g.Sum) || g.Minimum != g.Sum || g.Maximum != g.Sum ||
					g.Sum < math.Floor(v) || g.Sum > math.Floor(v)+1 || (v >= 1 && g.Sum == 0) || (v == 0 && g.Sum != 0) {
					t.Fatalf("rate %v: slot %s = %s, exact value %v", rate, g.Start, fmtBuckets(got[i:i+1]), v)
				}
			}
		}
	})

	t.Run("a whole number per slot publishes the exact values", func(t *testing.T) {
		// Multiples of 12 per hour on slot-aligned segments and running
		// intervals: every slot is worth a whole number of calls.
		in := Instance{ID: "i-1", State: "running", LaunchTime: Rel(-20 * day),
			Running: []Interval{iv(-20*day, -9*day-35*time.Minute), iv(-8*day+5*time.Minute, 0)},
			Usage: []UsageSegment{use(nt, -20*day, -5*day, 12), use(nt, -12*day-time.Hour, -3*day+25*time.Minute, 36),
				use(nt, -day, 0, 1200), use(MetricNoTokenRejected, -20*day, 0, 7)}}
		for _, period := range []time.Duration{Slot, time.Hour, 7 * time.Minute, day} {
			start, end := testNow.Add(-14*day-3*time.Minute), testNow.Add(-time.Hour)
			got := in.Buckets(nt, testNow, start, end, period)
			want := slotModel(&in, nt, testNow, start, end, period, exactCalls)
			if len(want) == 0 || !equalBuckets(got, want) {
				t.Errorf("period %s:\n got %s\nwant %s", period, fmtBuckets(got), fmtBuckets(want))
			}
		}
	})

	t.Run("long-run total matches PerHour × hours", func(t *testing.T) {
		for _, rate := range rates {
			for _, id := range []string{"i-1", "i-2", "i-0123456789abcdef0", ""} {
				in := history(id, rate)
				exact := rate * 14 * 24
				var daily float64
				for _, b := range in.Buckets(nt, testNow, testNow.Add(-14*day), testNow, day) {
					daily += b.Sum
				}
				got := in.Buckets(nt, testNow, testNow.Add(-14*day), testNow, 14*day)
				if len(got) != 1 || got[0].Sum != daily || math.Abs(daily-exact) > 1 {
					t.Errorf("rate %v, %q: 14 days sum to %v (daily buckets %v), want %v ± 1", rate, id, fmtBuckets(got), daily, exact)
				}
			}
		}
	})

	t.Run("results do not depend on the query's start", func(t *testing.T) {
		for _, rate := range rates {
			in := history("i-0123456789abcdef0", rate)
			in.Running = []Interval{iv(-10*day-150*time.Second, -2*day+100*time.Second), iv(-2*day+7*time.Minute+13*time.Second, 0)}
			for _, period := range []time.Duration{Slot, time.Hour, day} {
				long := in.Buckets(nt, testNow, testNow.Add(-10*day), testNow, period)
				short := in.Buckets(nt, testNow, testNow.Add(-3*day), testNow.Add(-time.Hour), period)
				byStart := map[time.Time]Bucket{}
				for _, b := range long {
					byStart[b.Start] = b
				}
				shared := 0
				for _, b := range short {
					l, ok := byStart[b.Start]
					if !ok || b.Start.Add(period).After(testNow.Add(-time.Hour)) {
						continue // not in the long query, or cut short by the short one's end
					}
					shared++
					if !equalBuckets([]Bucket{l}, []Bucket{b}) {
						t.Errorf("rate %v period %s: bucket %s from -10d, %s from -3d", rate, period, fmtBuckets([]Bucket{l}), fmtBuckets([]Bucket{b}))
					}
				}
				if shared < 2 {
					t.Fatalf("rate %v period %s: only %d shared buckets", rate, period, shared)
				}
			}
		}
	})

	t.Run("IDs change which slots round up, not the totals", func(t *testing.T) {
		for _, rate := range []float64{37, 10, 0.5, 7.3} {
			differ := false
			var first []Bucket
			var firstTotal float64
			for n := range 20 {
				in := history(fmt.Sprintf("i-%d", n), rate)
				slots := in.Buckets(nt, testNow, testNow.Add(-14*day), testNow, Slot)
				var total float64
				for _, b := range slots {
					total += b.Sum
				}
				if n == 0 {
					first, firstTotal = slots, total
					continue
				}
				if !equalBuckets(slots, first) {
					differ = true
				}
				if math.Abs(total-firstTotal) > 1 {
					t.Errorf("rate %v: i-%d totals %v over 14 days, i-0 %v", rate, n, total, firstTotal)
				}
			}
			if !differ {
				t.Errorf("rate %v: 20 IDs publish the same slot values", rate)
			}
		}
	})
}
