package cwsim

import (
	"encoding/base64"
	"fmt"
	"github.com/imdsfleet/imdsfleet/internal/sim/wire"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
)

// CloudWatch's limits.
const (
	// MaxQueries is the most MetricDataQueries one GetMetricData accepts.
	MaxQueries = 500
	// DefaultMaxDatapoints is GetMetricData's page size when MaxDatapoints
	// is omitted.
	DefaultMaxDatapoints = 100800
	// MaxStatisticsDatapoints is the most datapoints one GetMetricStatistics
	// call may ask for.
	MaxStatisticsDatapoints = 1440

	maxIDLen = 255
)

// stat is a CloudWatch statistic computed from a bucket.
type stat uint8

const (
	statSum stat = iota
	statSampleCount
	statAverage
	statMinimum
	statMaximum
)

var statNames = [...]string{"Sum", "SampleCount", "Average", "Minimum", "Maximum"}

func (s stat) String() string { return statNames[s] }

func parseStat(name string) (stat, bool) {
	for i, n := range statNames {
		if n == name {
			return stat(i), true
		}
	}
	return 0, false
}

func (s stat) value(b fleet.Bucket) float64 {
	switch s {
	case statSampleCount:
		return float64(b.SampleCount)
	case statAverage:
		return b.Sum / float64(b.SampleCount)
	case statMinimum:
		return b.Minimum
	case statMaximum:
		return b.Maximum
	}
	return b.Sum
}

// checkPeriod validates a period (seconds) against the data CloudWatch
// keeps for a query starting at start.
func checkPeriod(path string, period int64, now, start time.Time) *apiError {
	if period < 1 {
		return invalidValue(fmt.Sprintf("The parameter %s must be greater than 0.", path))
	}
	res := int64(fleet.Resolution(now, start) / time.Second)
	if res == 60 {
		switch period {
		case 1, 5, 10, 20, 30:
			return nil
		}
	}
	if period%res != 0 {
		age := "less than 15 days"
		switch res {
		case 300:
			age = "between 15 and 63 days"
		case 3600:
			age = "more than 63 days"
		}
		return invalidValue(fmt.Sprintf("The parameter %s must be a multiple of %d seconds when StartTime is %s ago (got %d).", path, res, age, period))
	}
	return nil
}

// validID reports whether id matches ^[a-z][a-zA-Z0-9_]*$.
func validID(id string) bool {
	if id == "" || id[0] < 'a' || id[0] > 'z' {
		return false
	}
	for i := 1; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// mdQuery is one validated MetricStat query.
type mdQuery struct {
	id, label  string
	account    string
	instance   string // "" when the metric is not a per-instance IMDS metric
	metricName string
	unitOK     bool
	period     time.Duration
	stat       stat
	returnData bool
}

// getMetricData validates a GetMetricData input and encodes its answer.
// GetMetricData answers GetMetricData: in is the decoded request, c the
// codec of the request's protocol (see [Codec]).
func GetMetricData(c wire.Codec, in map[string]any, account, region string, b Backend) ([]byte, *wire.Error) {
	p := c
	now := b.Now()
	var r reader
	start, hasStart := r.time(in, "", "StartTime")
	end, hasEnd := r.time(in, "", "EndTime")
	rawQueries, hasQueries := r.list(in, "", "MetricDataQueries")
	scanBy, _ := r.str(in, "", "ScanBy")
	maxPoints, hasMax := r.integer(in, "", "MaxDatapoints")
	token, hasToken := r.str(in, "", "NextToken")
	if r.err != nil {
		return nil, r.err
	}
	switch {
	case !hasQueries || len(rawQueries) == 0:
		return nil, missing("MetricDataQueries")
	case len(rawQueries) > MaxQueries:
		return nil, validationError(fmt.Sprintf("The collection MetricDataQueries must not have a size greater than %d.", MaxQueries))
	case !hasStart:
		return nil, missing("StartTime")
	case !hasEnd:
		return nil, missing("EndTime")
	case !start.Before(end):
		return nil, invalidValue("The parameter StartTime must be less than the parameter EndTime.")
	}
	descending := true
	switch scanBy {
	case "", "TimestampDescending":
	case "TimestampAscending":
		descending = false
	default:
		return nil, invalidValue(fmt.Sprintf("The parameter ScanBy must be TimestampDescending or TimestampAscending, got %q.", scanBy))
	}
	if !hasMax {
		maxPoints = DefaultMaxDatapoints
	} else if maxPoints < 1 {
		return nil, invalidValue(fmt.Sprintf("The parameter MaxDatapoints must be greater than 0, got %d.", maxPoints))
	}

	queries := make([]mdQuery, len(rawQueries))
	seen := make(map[string]struct{}, len(rawQueries))
	for i, raw := range rawQueries {
		path := "MetricDataQueries.member." + strconv.Itoa(i+1)
		m, ok := raw.(map[string]any)
		if !ok {
			r.typeErr(path, "a structure", raw)
			return nil, r.err
		}
		q, err := readQuery(&r, m, path, account, now, start)
		if err != nil {
			return nil, err
		}
		if _, dup := seen[q.id]; dup {
			return nil, validationError(fmt.Sprintf("The values for parameter Id in MetricDataQueries are not unique: %q appears more than once.", q.id))
		}
		seen[q.id] = struct{}{}
		queries[i] = q
	}

	fp := fingerprint(start, end, descending, queries)
	firstQuery, firstPoint := 0, 0
	if hasToken {
		var ok bool
		if firstQuery, firstPoint, ok = parseToken(token, fp, len(queries)); !ok {
			return nil, &apiError{Status: 400, Code: "InvalidNextToken",
				Message: "The NextToken is not valid for this request; pass the NextToken of the previous answer to the same request unchanged."}
		}
	}

	// Compute this page: queries in order, each query's points in scan
	// order, until MaxDatapoints are out.
	type result struct {
		q       *mdQuery
		lo, hi  int // this page's points, as indices into buckets (ascending)
		partial bool
	}
	// Size the bucket buffer for this page once: appends are the hot loop.
	est, window := 0, end.Sub(fleet.AlignStart(now, start))
	for qi := firstQuery; qi < len(queries) && est <= int(maxPoints); qi++ {
		// At most one datapoint per bucket and per 5-minute slot.
		est += int(window/max(queries[qi].period, fleet.Slot)) + 1
	}
	var (
		buckets   = make([]fleet.Bucket, 0, min(est, int(maxPoints)+4096))
		results   []result
		budget    = int(maxPoints)
		nextQuery = -1
		nextPoint int
	)
	for qi := firstQuery; qi < len(queries); qi++ {
		q := &queries[qi]
		if !q.returnData {
			continue
		}
		base := len(buckets)
		if q.instance != "" && q.unitOK {
			if inst, ok := b.Instance(q.account, region, q.instance); ok {
				buckets = inst.AppendBuckets(buckets, q.metricName, now, start, end, q.period)
			}
		}
		n := len(buckets) - base
		off := 0
		if qi == firstQuery {
			off = min(firstPoint, n)
		}
		if n-off > 0 && budget == 0 {
			nextQuery, nextPoint = qi, off
			break
		}
		take := min(n-off, budget)
		budget -= take
		// Scan order offset → ascending indices.
		lo, hi := base+off, base+off+take
		if descending {
			lo, hi = base+n-off-take, base+n-off
		}
		results = append(results, result{q: q, lo: lo, hi: hi, partial: off+take < n})
		if off+take < n {
			nextQuery, nextPoint = qi, off+take
			break
		}
	}

	size := 64
	for _, res := range results {
		size += 96 + len(res.q.id) + len(res.q.label) + 19*(res.hi-res.lo)
	}
	w := p.Writer(size)
	fields := 2
	if nextQuery >= 0 {
		fields++
	}
	w.MapStart(fields)
	w.Key("MetricDataResults")
	w.ListStart(len(results))
	for _, res := range results {
		w.MapStart(5)
		w.Key("Id")
		w.Str(res.q.id)
		w.Key("Label")
		w.Str(res.q.label)
		w.Key("StatusCode")
		if res.partial {
			w.Str("PartialData")
		} else {
			w.Str("Complete")
		}
		pts := buckets[res.lo:res.hi]
		w.Key("Timestamps")
		w.ListStart(len(pts))
		if descending {
			for i := len(pts) - 1; i >= 0; i-- {
				w.Time(pts[i].Start)
			}
		} else {
			for i := range pts {
				w.Time(pts[i].Start)
			}
		}
		w.ListEnd()
		w.Key("Values")
		w.ListStart(len(pts))
		if descending {
			for i := len(pts) - 1; i >= 0; i-- {
				w.Num(res.q.stat.value(pts[i]))
			}
		} else {
			for i := range pts {
				w.Num(res.q.stat.value(pts[i]))
			}
		}
		w.ListEnd()
		w.MapEnd()
	}
	w.ListEnd()
	w.Key("Messages")
	w.ListStart(0)
	w.ListEnd()
	if nextQuery >= 0 {
		w.Key("NextToken")
		w.Str(makeToken(nextQuery, nextPoint, fp))
	}
	w.MapEnd()
	return w.Bytes(), nil
}

// readQuery reads and validates one MetricDataQuery.
func readQuery(r *reader, m map[string]any, path, account string, now, start time.Time) (mdQuery, *apiError) {
	var q mdQuery
	id, ok := r.str(m, path, "Id")
	if r.err != nil {
		return q, r.err
	}
	if !ok {
		return q, missing(path + ".Id")
	}
	if len(id) > maxIDLen || !validID(id) {
		return q, validationError(fmt.Sprintf("The value %q for parameter %s.Id is not matching the expected pattern ^[a-z][a-zA-Z0-9_]*$ (1 to %d characters: a lowercase letter, then letters, digits or underscores).", id, path, maxIDLen))
	}
	q.id = id
	expr, hasExpr := r.str(m, path, "Expression")
	stat, hasStat := r.object(m, path, "MetricStat")
	q.label, _ = r.str(m, path, "Label")
	returnData, hasReturn := r.boolean(m, path, "ReturnData")
	q.returnData = !hasReturn || returnData
	q.account, _ = r.str(m, path, "AccountId")
	if r.err != nil {
		return q, r.err
	}
	if q.account == "" {
		q.account = account
	}
	switch {
	case hasExpr && hasStat:
		return q, validationError(fmt.Sprintf("Exactly one element of the MetricStat or the Expression must be set in %s (Id %s), not both.", path, id))
	case hasExpr:
		return q, invalidValue(fmt.Sprintf("%s (Id %s) is an Expression query (%q); the simulated CloudWatch answers MetricStat queries only.", path, id, expr))
	case !hasStat:
		return q, validationError(fmt.Sprintf("Exactly one element of the MetricStat or the Expression must be set in %s (Id %s).", path, id))
	}

	sp := path + ".MetricStat"
	mm, ok := r.object(stat, sp, "Metric")
	if r.err != nil {
		return q, r.err
	}
	if !ok {
		return q, missing(sp + ".Metric")
	}
	met := r.readMetric(mm, sp+".Metric")
	period, hasPeriod := r.integer(stat, sp, "Period")
	statName, hasStatName := r.str(stat, sp, "Stat")
	unit, _ := r.str(stat, sp, "Unit")
	if r.err != nil {
		return q, r.err
	}
	switch {
	case met.namespace == "":
		return q, missing(sp + ".Metric.Namespace")
	case met.name == "":
		return q, missing(sp + ".Metric.MetricName")
	case !hasPeriod:
		return q, missing(sp + ".Period")
	case !hasStatName:
		return q, missing(sp + ".Stat")
	}
	if err := checkPeriod(sp+".Period", period, now, start); err != nil {
		return q, err
	}
	st, ok := parseStat(statName)
	if !ok {
		return q, invalidValue(fmt.Sprintf("The parameter %s.Stat %q is not supported by the simulated CloudWatch; use one of %s.", sp, statName, strings.Join(statNames[:], ", ")))
	}
	q.stat = st
	q.period = time.Duration(period) * time.Second
	q.metricName = met.name
	q.instance = met.instanceID()
	q.unitOK = unit == "" || unit == "Count"
	if q.label == "" {
		q.label = met.name
	}
	return q, nil
}

// fingerprint identifies a request so a NextToken is only honoured for the
// request it came from.
func fingerprint(start, end time.Time, descending bool, queries []mdQuery) uint32 {
	h := fnv.New32a()
	var buf [17]byte
	b := strconv.AppendInt(buf[:0], start.UnixMilli(), 36)
	_, _ = h.Write(b)
	b = strconv.AppendInt(buf[:0], end.UnixMilli(), 36)
	_, _ = h.Write(b)
	if descending {
		_, _ = h.Write([]byte{'d'})
	}
	for i := range queries {
		_, _ = h.Write([]byte(queries[i].id))
		_, _ = h.Write([]byte{0})
	}
	return h.Sum32()
}

func makeToken(query, point int, fp uint32) string {
	raw := fmt.Sprintf("v1.%d.%d.%08x", query, point, fp)
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func parseToken(token string, fp uint32, nQueries int) (query, point int, ok bool) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return 0, 0, false
	}
	parts := strings.Split(string(raw), ".")
	if len(parts) != 4 || parts[0] != "v1" || parts[3] != fmt.Sprintf("%08x", fp) {
		return 0, 0, false
	}
	q, err1 := strconv.Atoi(parts[1])
	pt, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil || q < 0 || q >= nQueries || pt < 0 {
		return 0, 0, false
	}
	return q, pt, true
}

// getMetricStatistics validates a GetMetricStatistics input and encodes its
// answer.
// GetMetricStatistics answers GetMetricStatistics (see [GetMetricData]).
func GetMetricStatistics(c wire.Codec, in map[string]any, account, region string, b Backend) ([]byte, *wire.Error) {
	p := c
	now := b.Now()
	var r reader
	met := r.readMetric(in, "")
	start, hasStart := r.time(in, "", "StartTime")
	end, hasEnd := r.time(in, "", "EndTime")
	period, hasPeriod := r.integer(in, "", "Period")
	rawStats, hasStats := r.list(in, "", "Statistics")
	extStats, hasExt := r.list(in, "", "ExtendedStatistics")
	unit, _ := r.str(in, "", "Unit")
	if r.err != nil {
		return nil, r.err
	}
	switch {
	case met.namespace == "":
		return nil, missing("Namespace")
	case met.name == "":
		return nil, missing("MetricName")
	case !hasStart:
		return nil, missing("StartTime")
	case !hasEnd:
		return nil, missing("EndTime")
	case !hasPeriod:
		return nil, missing("Period")
	case hasStats && len(rawStats) > 0 && hasExt && len(extStats) > 0:
		return nil, invalidCombination("Must specify either Statistics or ExtendedStatistics, but not both.")
	case hasExt && len(extStats) > 0:
		return nil, invalidValue("ExtendedStatistics (percentiles) are not supported by the simulated CloudWatch; use Statistics.")
	case !hasStats || len(rawStats) == 0:
		return nil, invalidCombination("Must specify either Statistics or ExtendedStatistics.")
	case len(rawStats) > len(statNames):
		return nil, validationError(fmt.Sprintf("The collection Statistics must not have a size greater than %d.", len(statNames)))
	case !start.Before(end):
		return nil, invalidValue("The parameter StartTime must be less than the parameter EndTime.")
	}
	stats := make([]stat, 0, len(rawStats))
	for i, raw := range rawStats {
		name, _ := raw.(string)
		st, ok := parseStat(name)
		if !ok {
			return nil, invalidValue(fmt.Sprintf("The parameter Statistics.member.%d %q is not a statistic; use one of %s.", i+1, raw, strings.Join(statNames[:], ", ")))
		}
		if !slices.Contains(stats, st) {
			stats = append(stats, st)
		}
	}
	if err := checkPeriod("Period", period, now, start); err != nil {
		return nil, err
	}
	pd := time.Duration(period) * time.Second
	aligned := fleet.AlignStart(now, start)
	if n := (end.Sub(aligned) + pd - 1) / pd; n > MaxStatisticsDatapoints {
		return nil, invalidCombination(fmt.Sprintf("You have requested up to %d datapoints, which exceeds the limit of %d. You may reduce the datapoints requested by increasing Period, or decreasing the time range.", n, MaxStatisticsDatapoints))
	}

	var points []fleet.Bucket
	if id := met.instanceID(); id != "" && (unit == "" || unit == "Count") {
		if inst, ok := b.Instance(account, region, id); ok {
			points = inst.AppendBuckets(nil, met.name, now, start, end, pd)
		}
	}

	w := p.Writer(64 + len(met.name) + len(points)*(32+12*len(stats)))
	w.MapStart(2)
	w.Key("Label")
	w.Str(met.name)
	w.Key("Datapoints")
	w.ListStart(len(points))
	for _, pt := range points {
		w.MapStart(2 + len(stats))
		w.Key("Timestamp")
		w.Time(pt.Start)
		for _, st := range stats {
			w.Key(st.String())
			w.Num(st.value(pt))
		}
		w.Key("Unit")
		w.Str("Count")
		w.MapEnd()
	}
	w.ListEnd()
	w.MapEnd()
	return w.Bytes(), nil
}
