package fleet

import (
	"fmt"
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
	// Slots: [0,5) 1, [5,10) 1, [10,15) 2m·12/h + 3m·120/h = 0.4+6, [15,20) 10,
	// [20,25) 10, [25,27:30) 5.
	b := got[0]
	if b.SampleCount != 6 || !near(b.Minimum, 1) || !near(b.Maximum, 10) || !near(b.Sum, 1+1+6.4+10+10+5) {
		t.Errorf("got %+v, want 6 samples, min 1, max 10, sum 33.4", b)
	}
}

// TestBucketsMatchesSlotModel compares Buckets on random instances and
// queries with a direct slot-by-slot evaluation of the model.
func TestBucketsMatchesSlotModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	minutes := func(lo, hi int) time.Duration { return time.Duration(lo+rng.IntN(hi-lo)) * time.Minute }
	for n := range 300 {
		in := Instance{State: []string{"running", "stopped", "pending", "terminated"}[rng.IntN(4)], LaunchTime: Rel(-minutes(60, 5*24*60))}
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
			in.Usage = append(in.Usage, use([]string{MetricNoToken, MetricNoTokenRejected}[rng.IntN(2)], a, a+minutes(1, 3*24*60), float64(rng.IntN(100))))
		}
		start := -minutes(10, 6*24*60) - time.Duration(rng.IntN(60))*time.Second
		end := start + minutes(1, 7*24*60)
		period := []time.Duration{time.Minute, 5 * time.Minute, 7 * time.Minute, time.Hour, 6 * time.Hour, day}[rng.IntN(6)]
		got := in.Buckets(MetricNoToken, testNow, testNow.Add(start), testNow.Add(end), period)
		want := slotModel(&in, MetricNoToken, testNow, testNow.Add(start), testNow.Add(end), period)
		if fmtBuckets(got) != fmtBuckets(want) {
			t.Fatalf("case %d: %+v start %s end %s period %s:\n got %s\nwant %s", n, in, start, end, period, fmtBuckets(got), fmtBuckets(want))
		}
	}
}

// slotModel evaluates the metric model the slow, obvious way: every slot,
// every running interval, every usage segment.
func slotModel(in *Instance, metric string, now, start, end time.Time, period time.Duration) []Bucket {
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
