package report

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// An organization's scan holds hundreds of thousands of instances, launch
// sources and workloads until its report is written: as Go values that is
// several hundred MB (each instance with its tag map, its strings and its
// pointers). A Packed holds a report's long lists instead as the very bytes
// [WriteJSON] writes for each element, compressed (DEFLATE at its fastest
// level, primed with a dictionary of the elements' keys, so that even a
// one-instance part compresses well): about a tenth of the memory. The
// scanner packs each target's lists as soon as the target is done
// (scanner.Options.Pack) and [Packed.Join]s the parts in the report's
// order.
//
// A report holding a Packed (see [Report.SetPacked]) has empty
// AccountDefaults, LaunchSources, Workloads and Instances slices; its
// Summary and its targets' instance counts come from the parts. [WriteJSON]
// copies the packed bytes (the file is byte for byte the one the unpacked
// report gives), [WriteCSV] and [Report.EachInstance] decode one instance
// at a time, and every other writer works on an unpacked copy
// ([Report.Unpack]).
type Packed struct {
	segs    [numPackedLists][][]byte // compressed parts, in order
	n       [numPackedLists]int
	summary Summary
	counts  map[targetKey]int // instances per target
}

// The packed lists, in the order of the report's JSON.
const (
	packedAccountDefaults = iota
	packedLaunchSources
	packedWorkloads
	packedInstances
	numPackedLists
)

var packedListNames = [numPackedLists]string{"accountDefaults", "launchSources", "workloads", "instances"}

// elementEncoder encodes one element of a report's long list as
// [WriteJSON] writes it: indented for depth 2, HTML characters not
// escaped, without the trailing newline. Its buffers are reused.
type elementEncoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

func newElementEncoder() *elementEncoder {
	e := &elementEncoder{}
	e.enc = json.NewEncoder(&e.buf)
	e.enc.SetEscapeHTML(false)
	e.enc.SetIndent("    ", "  ")
	return e
}

// encode returns the element's bytes, valid until the next call.
func (e *elementEncoder) encode(v any) ([]byte, error) {
	e.buf.Reset()
	if err := e.enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(e.buf.Bytes(), []byte("\n")), nil
}

// listElement returns element i of list l of r, as WriteJSON writes it
// (nil slices and maps filled), and what to call it in an error.
func listElement(r *Report, l, i int) (any, string) {
	switch l {
	case packedAccountDefaults:
		return r.AccountDefaults[i], "account defaults"
	case packedLaunchSources:
		s := r.LaunchSources[i]
		fillSourceEmpty(&s)
		return s, "launch source " + s.ID
	case packedWorkloads:
		wl := r.Workloads[i]
		fillWorkloadEmpty(&wl)
		return wl, "workload " + wl.ID
	default:
		in := r.Instances[i]
		if in.Tags == nil {
			in.Tags = map[string]string{}
		}
		if in.Risks == nil {
			in.Risks = []string{}
		}
		return in, "instance " + in.InstanceID
	}
}

func listLen(r *Report, l int) int {
	switch l {
	case packedAccountDefaults:
		return len(r.AccountDefaults)
	case packedLaunchSources:
		return len(r.LaunchSources)
	case packedWorkloads:
		return len(r.Workloads)
	default:
		return len(r.Instances)
	}
}

// packDict primes every part's compressor with one element of each list,
// so that a part of a single instance compresses about as well as a large
// one: its keys and indentation are in the dictionary.
var packDict = sync.OnceValue(func() []byte {
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	next := NextLaunch{Status: "resolved", HttpTokens: "optional", HttpTokensFrom: "built-in", HttpPutResponseHopLimit: 1,
		HttpPutResponseHopLimitFrom: "built-in", HttpEndpoint: "enabled", HttpEndpointFrom: "built-in"}
	sample := &Report{
		AccountDefaults: []AccountDefaults{{Account: "123456789012", Region: "us-east-1"}},
		LaunchSources: []LaunchSource{{Account: "123456789012", Region: "us-east-1", ID: "launch-template/lt-0123456789abcdef0",
			Kind: SourceLaunchTemplate, Name: "web", NextLaunch: next}},
		Workloads: []Workload{{Account: "123456789012", Region: "us-east-1", ID: "auto-scaling-group/123456789012/us-east-1/web-asg",
			Kind: "auto-scaling-group", Name: "web-asg", Instances: 1,
			ByClassification: map[string]int{ClassDisabled: 0, ClassEnforced: 0, ClassNoData: 0, ClassReady: 1, ClassV1InUse: 0},
			ByRisk:           map[string]int{RiskContainerHopLimit: 0, RiskNextLaunchV1: 0, RiskRoleExposed: 1, RiskV1Rejected: 0},
			NextLaunch:       &next, Owner: "payments", OwnerTag: "team", Step: "enforce-ready"}},
		Instances: []Instance{{Account: "123456789012", Region: "us-east-1", InstanceID: "i-0123456789abcdef0", Name: "web-1",
			State: "running", LaunchTime: t, ImageID: "ami-0123456789abcdef0",
			InstanceProfileArn: "arn:aws:iam::123456789012:instance-profile/web",
			Tags: map[string]string{"Name": "web-1", "aws:autoscaling:groupName": "web-asg", "aws:ec2launchtemplate:id": "lt-0123456789abcdef0",
				"aws:ec2launchtemplate:version": "1", "env": "prod", "team": "payments"},
			MetadataOptions: MetadataOptions{HttpTokens: "optional", HttpEndpoint: "enabled", HttpPutResponseHopLimit: 1,
				HttpProtocolIpv6: "disabled", InstanceMetadataTags: "disabled", State: "applied"},
			Usage:          Usage{Status: UsageComplete, Datapoints: 14},
			Classification: ClassReady, Risks: []string{RiskRoleExposed},
			LaunchSource: &InstanceLaunchSource{Kind: "auto-scaling-group", SourceID: "auto-scaling-group/web-asg", Name: "web-asg",
				AutoScalingGroup: "web-asg", TemplateID: "lt-0123456789abcdef0", TemplateVersion: "1"},
			NextLaunch: &next, Workload: "auto-scaling-group/123456789012/us-east-1/web-asg"}},
	}
	e := newElementEncoder()
	var dict []byte
	for l := range numPackedLists {
		v, _ := listElement(sample, l, 0)
		b, err := e.encode(v)
		if err != nil {
			panic(err) // a fixed value always encodes
		}
		dict = append(dict, b...)
	}
	return dict
})

// packRun is how many elements one compressed stream holds at most.
const packRun = 2048

var flateWriters = sync.Pool{New: func() any {
	w, err := flate.NewWriterDict(io.Discard, flate.BestSpeed, packDict())
	if err != nil {
		panic(err) // BestSpeed is a valid level
	}
	return w
}}

// Pack packs part's long lists (part normalized, see [Normalize]) into a
// new Packed, counting its instances into the Packed's summary. Parts are
// packed concurrently and joined in order with [Packed.Join].
func Pack(part *Report) (*Packed, error) {
	p := &Packed{summary: summarize(part.Instances), counts: map[targetKey]int{}}
	for i := range part.Instances {
		p.counts[targetKey{part.Instances[i].Account, part.Instances[i].Region}]++
	}
	e := newElementEncoder()
	fw := flateWriters.Get().(*flate.Writer)
	defer flateWriters.Put(fw)
	var lenBuf [binary.MaxVarintLen64]byte
	for l := range numPackedLists {
		n := listLen(part, l)
		var out bytes.Buffer
		// A large list is packed in runs of packRun elements, each its
		// own stream: the buffer a run is compressed into stays small
		// (a 100,000-instance Region's list, compressed whole, grew one
		// buffer by doubling to twice its size).
		for lo := 0; lo < n; lo += packRun {
			out.Reset()
			fw.Reset(&out)
			for i := lo; i < min(lo+packRun, n); i++ {
				v, what := listElement(part, l, i)
				b, err := e.encode(v)
				if err != nil {
					return nil, fmt.Errorf("encode %s: %w", what, err)
				}
				fw.Write(lenBuf[:binary.PutUvarint(lenBuf[:], uint64(len(b)))])
				fw.Write(b) // a bytes.Buffer never fails
			}
			if err := fw.Close(); err != nil {
				return nil, fmt.Errorf("pack %s: %w", packedListNames[l], err)
			}
			p.segs[l] = append(p.segs[l], bytes.Clone(out.Bytes())) // the buffer's spare capacity is not kept
		}
		p.n[l] = n
	}
	return p, nil
}

// Join appends q's lists after p's and adds up their counts.
func (p *Packed) Join(q *Packed) {
	if p.counts == nil {
		p.counts = map[targetKey]int{}
		p.summary = summarize(nil)
	}
	for l := range numPackedLists {
		p.segs[l] = append(p.segs[l], q.segs[l]...)
		p.n[l] += q.n[l]
	}
	p.summary.Instances += q.summary.Instances
	for k, v := range q.summary.ByClassification {
		p.summary.ByClassification[k] += v
	}
	for k, v := range q.summary.ByRisk {
		p.summary.ByRisk[k] += v
	}
	for k, v := range q.counts {
		p.counts[k] += v
	}
}

// Size is the memory the packed bytes take.
func (p *Packed) Size() int {
	n := 0
	for l := range numPackedLists {
		for _, s := range p.segs[l] {
			n += len(s)
		}
	}
	return n
}

// each calls fn with every element of list l, in order, as WriteJSON
// writes it. The bytes are valid until fn returns.
func (p *Packed) each(l int, fn func(b []byte) error) error {
	var buf []byte
	for _, seg := range p.segs[l] {
		fr := flate.NewReaderDict(bytes.NewReader(seg), packDict())
		br := bufio.NewReader(fr)
		for {
			n, err := binary.ReadUvarint(br)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("unpack %s: %w", packedListNames[l], err)
			}
			if uint64(cap(buf)) < n {
				buf = make([]byte, n)
			}
			buf = buf[:n]
			if _, err := io.ReadFull(br, buf); err != nil {
				return fmt.Errorf("unpack %s: %w", packedListNames[l], err)
			}
			if err := fn(buf); err != nil {
				return err
			}
		}
		fr.Close()
	}
	return nil
}

// SetPacked makes p hold r's long lists: r's AccountDefaults,
// LaunchSources, Workloads and Instances must be empty (they are set to
// empty slices), and [Normalize] takes r's summary and its targets'
// instance counts from p.
func (r *Report) SetPacked(p *Packed) {
	r.AccountDefaults, r.LaunchSources, r.Workloads, r.Instances = []AccountDefaults{}, []LaunchSource{}, []Workload{}, []Instance{}
	r.packed = p
}

// IsPacked reports whether r's long lists are packed (see [Packed]).
func (r *Report) IsPacked() bool { return r.packed != nil }

// InstanceCount is the number of instances in r, packed or not.
func (r *Report) InstanceCount() int {
	if r.packed != nil {
		return r.packed.n[packedInstances]
	}
	return len(r.Instances)
}

// EachInstance calls fn with every instance of r in order, decoding a
// packed report's instances one at a time; fn must not keep the pointer.
// It stops at fn's first error and returns it.
func (r *Report) EachInstance(fn func(*Instance) error) error {
	if r.packed == nil {
		for i := range r.Instances {
			if err := fn(&r.Instances[i]); err != nil {
				return err
			}
		}
		return nil
	}
	return r.packed.each(packedInstances, func(b []byte) error {
		var in Instance
		if err := json.Unmarshal(b, &in); err != nil {
			return fmt.Errorf("unpack instance: %w", err)
		}
		return fn(&in)
	})
}

// Unpack decodes r's packed lists back into its slices (the memory
// [Packed] saves is spent again); a report that is not packed is left as
// it is.
func (r *Report) Unpack() error {
	p := r.packed
	if p == nil {
		return nil
	}
	u := *r
	u.AccountDefaults = make([]AccountDefaults, 0, p.n[packedAccountDefaults])
	u.LaunchSources = make([]LaunchSource, 0, p.n[packedLaunchSources])
	u.Workloads = make([]Workload, 0, p.n[packedWorkloads])
	u.Instances = make([]Instance, 0, p.n[packedInstances])
	for l := range numPackedLists {
		err := p.each(l, func(b []byte) error {
			var err error
			switch l {
			case packedAccountDefaults:
				u.AccountDefaults, err = decodeAppend(u.AccountDefaults, b)
			case packedLaunchSources:
				u.LaunchSources, err = decodeAppend(u.LaunchSources, b)
			case packedWorkloads:
				u.Workloads, err = decodeAppend(u.Workloads, b)
			default:
				u.Instances, err = decodeAppend(u.Instances, b)
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	u.packed = nil
	*r = u
	return nil
}

func decodeAppend[T any](s []T, b []byte) ([]T, error) {
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return s, fmt.Errorf("unpack: %w", err)
	}
	return append(s, v), nil
}

// unpacked returns r itself when it is not packed, else an unpacked copy
// (r is not modified), for the writers that need every element at once.
func (r *Report) unpacked() (*Report, error) {
	if r.packed == nil {
		return r, nil
	}
	u := *r
	if err := u.Unpack(); err != nil {
		return nil, err
	}
	return &u, nil
}
