package sim

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/imdsfleet/imdsfleet/internal/sim/cwsim"
)

const stsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"

func isSTSAction(action string) bool {
	return action == "GetCallerIdentity" || action == "AssumeRole"
}

// roleArnRe matches arn:aws:iam::<account>:role/<optional path/><name>.
var roleArnRe = regexp.MustCompile(`^arn:aws[a-z-]*:iam::([0-9]{12}):role/(?:[\w+=,.@/-]*/)?([\w+=,.@-]{1,64})$`)

func (s *Server) serveSTS(w http.ResponseWriter, r *http.Request, action string, form url.Values, scope sigScope, signed bool) {
	if action == "" {
		action = "(none)"
	}
	c := &call{proto: protoSTS, api: action}
	var assumed *assumedKey
	if signed {
		c.account, assumed = s.caller(scope.accessKey)
	}
	if c.account == nil {
		s.dispatch(w, r, c, func(bw *bufWriter) string {
			return s.writeError(bw, protoSTS, http.StatusForbidden, "MissingAuthenticationToken", "Request is missing Authentication Token")
		})
		return
	}
	// STS is global: it counts under Region "", is never throttled, and
	// takes latency and faults from the signing Region's knobs.
	c.region = s.region(c.account, scope.region)
	switch action {
	case "GetCallerIdentity":
		s.dispatch(w, r, c, func(bw *bufWriter) string { return s.getCallerIdentity(bw, c, scope.accessKey, assumed) })
	case "AssumeRole":
		s.dispatch(w, r, c, func(bw *bufWriter) string { return s.assumeRole(bw, c, form, assumed) })
	default:
		s.dispatch(w, r, c, func(bw *bufWriter) string {
			return s.writeError(bw, protoSTS, http.StatusBadRequest, "InvalidAction", fmt.Sprintf("Could not find operation %s for version 2011-06-15", action))
		})
	}
}

func callerArn(c *call, assumed *assumedKey) string {
	if assumed != nil {
		return "arn:aws:sts::" + c.account.id + ":assumed-role/" + assumed.role + "/" + assumed.session
	}
	return "arn:aws:iam::" + c.account.id + ":user/imdsfleet-sim"
}

func (s *Server) startSTS(bw *bufWriter, root string) xw {
	bw.Header().Set("Content-Type", "text/xml")
	bw.WriteHeader(http.StatusOK)
	x := xw{&bw.buf}
	x.b.WriteString(xmlHeader)
	x.b.WriteString("<" + root + ` xmlns="` + stsNamespace + `">`)
	return x
}

func (s *Server) endSTS(x xw, root string) {
	x.open("ResponseMetadata")
	x.elem("RequestId", s.requestID())
	x.close("ResponseMetadata")
	x.close(root)
}

func (s *Server) getCallerIdentity(bw *bufWriter, c *call, accessKey string, assumed *assumedKey) string {
	userID := "AIDASIM" + c.account.id
	if assumed != nil {
		userID = "AROASIM" + c.account.id + ":" + assumed.session
	}
	x := s.startSTS(bw, "GetCallerIdentityResponse")
	x.open("GetCallerIdentityResult")
	x.elem("Arn", callerArn(c, assumed))
	x.elem("UserId", userID)
	x.elem("Account", c.account.id)
	x.close("GetCallerIdentityResult")
	s.endSTS(x, "GetCallerIdentityResponse")
	return "ok"
}

const (
	upperAlnum  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	secretChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
)

func (s *Server) assumeRole(bw *bufWriter, c *call, form url.Values, caller *assumedKey) string {
	bad := func(code, msg string) string {
		return s.writeError(bw, protoSTS, http.StatusBadRequest, code, msg)
	}
	arn := form.Get("RoleArn")
	session := form.Get("RoleSessionName")
	if arn == "" {
		return bad("ValidationError", "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null")
	}
	if session == "" {
		return bad("ValidationError", "1 validation error detected: Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null")
	}
	duration := 3600
	if v := form.Get("DurationSeconds"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 900 || n > 43200 {
			return bad("ValidationError", fmt.Sprintf("1 validation error detected: Value '%s' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200", v))
		}
		duration = n
	}
	m := roleArnRe.FindStringSubmatch(arn)
	if m == nil {
		return bad("ValidationError", fmt.Sprintf("%s is invalid", arn))
	}
	denied := func() string {
		return s.writeError(bw, protoSTS, http.StatusForbidden, "AccessDenied",
			fmt.Sprintf("User: %s is not authorized to perform: sts:AssumeRole on resource: %s", callerArn(c, caller), arn))
	}
	target, ok := s.byID[m[1]]
	if !ok {
		return denied()
	}
	if len(target.roles) > 0 && !contains(target.roles, m[2]) {
		return denied()
	}
	key := "ASIA" + s.randString(16, upperAlnum)
	secret := s.randString(40, secretChars)
	token := "IQoJb3JpZ2luX2VjE" + s.randString(120, secretChars)
	s.mu.Lock()
	s.assumed[key] = assumedKey{account: target, roleArn: arn, role: m[2], session: session}
	s.mu.Unlock()
	// Expiration is on the wall clock: the SDK's credential cache compares
	// it with the wall clock even when the fleet's clock is fixed.
	exp := time.Now().Add(time.Duration(duration) * time.Second).UTC()

	x := s.startSTS(bw, "AssumeRoleResponse")
	x.open("AssumeRoleResult")
	x.open("Credentials")
	x.elem("AccessKeyId", key)
	x.elem("SecretAccessKey", secret)
	x.elem("SessionToken", token)
	x.elem("Expiration", exp.Format(time.RFC3339))
	x.close("Credentials")
	x.open("AssumedRoleUser")
	x.elem("AssumedRoleId", "AROASIM"+target.id+":"+session)
	x.elem("Arn", "arn:aws:sts::"+target.id+":assumed-role/"+m[2]+"/"+session)
	x.close("AssumedRoleUser")
	x.close("AssumeRoleResult")
	s.endSTS(x, "AssumeRoleResponse")
	return "ok"
}

// serveCloudWatch routes a CloudWatch request (proto protoCW: RPC v2 CBOR,
// protoCWJSON: awsJson1_0) to cwsim after the pipeline's checks.
func (s *Server) serveCloudWatch(w http.ResponseWriter, r *http.Request, proto protocol, op string, body []byte, scope sigScope, signed bool) {
	c := &call{proto: proto, api: op, statsRegion: scope.region}
	if signed {
		c.account, _ = s.caller(scope.accessKey)
	}
	if c.account == nil {
		s.dispatch(w, r, c, func(bw *bufWriter) string {
			return s.writeError(bw, proto, http.StatusForbidden, "MissingAuthenticationToken", "Request is missing Authentication Token")
		})
		return
	}
	c.region = s.region(c.account, scope.region)
	c.bucket, c.spec = "cloudwatch/"+op, specCloudWatch
	s.dispatch(w, r, c, func(bw *bufWriter) string {
		serve := cwsim.Serve
		if proto == protoCWJSON {
			serve = cwsim.ServeJSON
		}
		status := serve(bw, op, body, c.account.id, scope.region, cwBackend{s})
		if status >= 300 {
			if code := bw.Header().Get("X-Amzn-Query-Error"); code != "" {
				if i := strings.IndexByte(code, ';'); i >= 0 {
					code = code[:i]
				}
				return code
			}
			return strconv.Itoa(status)
		}
		return "ok"
	})
}
