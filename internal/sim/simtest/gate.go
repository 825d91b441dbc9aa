package simtest

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"sync"
)

// Gate sits in front of the simulated AWS and stops a run at a chosen live
// ModifyInstanceMetadataOptions call, so that a test interrupts a run
// half-way on every run instead of when a polling loop happens to notice:
// what the server has seen decides, never the wall clock. A Gate with no
// limit set lets everything through.
type Gate struct {
	mu      sync.Mutex
	live    int           // live modify calls let through
	held    int           // calls being held now
	limit   int           // let this many through, then act (0: no limit)
	hold    bool          // hold later calls until the client gives up or Release
	then    func()        // called once, when the limit-th call has been answered
	reached chan struct{} // closed then
	open    chan struct{} // closed by Release
}

// NewGate returns a Gate that lets everything through.
func NewGate() *Gate {
	return &Gate{reached: make(chan struct{}), open: make(chan struct{})}
}

// After calls f once, right after the server has answered the n-th live
// change and before that answer reaches the client: a run cancelled by f
// has made at least n changes and at most n plus the calls it had in
// flight.
func (g *Gate) After(n int, f func()) {
	g.mu.Lock()
	g.limit, g.then = n, f
	g.mu.Unlock()
}

// HoldAfter lets n live changes through and holds every later one until
// its client gives up (a killed process) or Release is called: the run
// has made exactly n changes, whatever the machine's speed. Reached is
// closed once the n-th has been answered.
func (g *Gate) HoldAfter(n int) {
	g.mu.Lock()
	g.limit, g.hold = n, true
	g.mu.Unlock()
}

// Reached is closed once the limit's call has been answered.
func (g *Gate) Reached() <-chan struct{} { return g.reached }

// Held returns how many calls are being held now. After the client is
// killed, a test waits for 0 before Release: every held call was then
// dropped, none carried out late.
func (g *Gate) Held() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.held
}

// Release lets held and later calls through.
func (g *Gate) Release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
	default:
		close(g.open)
	}
}

// Wrap returns next behind the gate.
func (g *Gate) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !liveModify(r) {
			next.ServeHTTP(w, r)
			return
		}
		g.mu.Lock()
		over := g.limit > 0 && g.live >= g.limit
		if over && g.hold {
			g.held++
			g.mu.Unlock()
			select {
			case <-g.open:
			case <-r.Context().Done():
				g.mu.Lock()
				g.held--
				g.mu.Unlock()
				return // the client is gone: the call never reached AWS
			}
			g.mu.Lock()
			g.held--
		}
		g.live++
		last := g.limit > 0 && g.live == g.limit
		g.mu.Unlock()
		next.ServeHTTP(w, r)
		if last {
			if g.then != nil {
				g.then()
			}
			close(g.reached)
		}
	})
}

// liveModify reports whether r is a ModifyInstanceMetadataOptions call
// without DryRun. It reads the EC2 Query form and puts the body back.
func liveModify(r *http.Request) bool {
	if r.Method != http.MethodPost || r.Body == nil {
		return false
	}
	body, err := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return false
	}
	form, err := url.ParseQuery(string(body))
	return err == nil && form.Get("Action") == "ModifyInstanceMetadataOptions" && form.Get("DryRun") != "true"
}
