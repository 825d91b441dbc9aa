package sim

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/wire"
)

const stsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"

// roleArnRe matches arn:<partition>:iam::<account>:role/<optional path/><name>.
var roleArnRe = regexp.MustCompile(`^arn:(aws[a-z-]*):iam::([0-9]{12}):role/(?:[\w+=,.@/-]*/)?([\w+=,.@-]{1,64})$`)

// stsService is STS (awsQuery protocol). It is global: its calls count
// under Region "", are never throttled, ignore the deny switches, and take
// latency and faults from the signing Region's knobs.
func (s *Server) stsService() *service {
	return &service{
		signingName: "sts",
		iamPrefix:   "sts",
		version:     "2011-06-15",
		query:       wire.Codec{Protocol: wire.AWSQuery, Namespace: stsNamespace},
		global:      true,
		unsigned:    wire.Error{Status: http.StatusForbidden, Code: "MissingAuthenticationToken", Message: "Request is missing Authentication Token"},
		ops: map[string]operation{
			"GetCallerIdentity": {handle: (*Server).getCallerIdentity},
			"AssumeRole":        {handle: (*Server).assumeRole},
		},
	}
}

// principalArn is the caller as AWS names it in an access-denied message
// ("User: <ARN> is not authorized to perform: ..."): the assumed role's
// session, or the account's user, in the fleet's partition.
func principalArn(c *call) string {
	if c.account == nil {
		return simUserArn(c)
	}
	return callerArn(c)
}

// simUserArn is the account's IAM user (the sim's default credentials),
// in the fleet's partition: what EC2 records as a template's createdBy.
func simUserArn(c *call) string {
	return "arn:" + c.s.partition + ":iam::" + accountID(c.account) + ":user/imdsfleet-sim"
}

func callerArn(c *call) string {
	assumed := c.assumed
	if assumed != nil {
		return "arn:" + c.s.partition + ":sts::" + c.account.id + ":assumed-role/" + assumed.role + "/" + assumed.session
	}
	return "arn:" + c.s.partition + ":iam::" + c.account.id + ":user/imdsfleet-sim"
}

func (s *Server) getCallerIdentity(c *call) string {
	assumed := c.assumed
	userID := "AIDASIM" + c.account.id
	if assumed != nil {
		userID = "AROASIM" + c.account.id + ":" + assumed.session
	}
	x := c.startXML("GetCallerIdentityResponse")
	x.Open("GetCallerIdentityResult")
	x.Elem("Arn", callerArn(c))
	x.Elem("UserId", userID)
	x.Elem("Account", c.account.id)
	x.Close("GetCallerIdentityResult")
	c.endXML(x, "GetCallerIdentityResponse")
	return "ok"
}

const (
	upperAlnum  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	secretChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
)

func (s *Server) assumeRole(c *call) string {
	form := c.form()
	bad := func(code, msg string) string {
		return c.fail(http.StatusBadRequest, code, msg)
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
		return c.fail(http.StatusForbidden, "AccessDenied",
			fmt.Sprintf("User: %s is not authorized to perform: sts:AssumeRole on resource: %s", callerArn(c), arn))
	}
	partition, acct, role := m[1], m[2], m[3]
	if partition != s.partition {
		// A role in another partition cannot be reached from this one.
		return denied()
	}
	target, ok := s.byID[acct]
	if !ok {
		return denied()
	}
	if target.denyAssumeRole || target.state != fleet.AccountActive || len(target.roles) > 0 && !contains(target.roles, role) {
		return denied()
	}
	key := "ASIA" + s.randString(16, upperAlnum)
	secret := s.randString(40, secretChars)
	token := "IQoJb3JpZ2luX2VjE" + s.randString(120, secretChars)
	s.mu.Lock()
	s.assumed[key] = assumedKey{account: target, roleArn: arn, role: role, session: session}
	s.mu.Unlock()
	// Expiration is on the wall clock: the SDK's credential cache compares
	// it with the wall clock even when the fleet's clock is fixed.
	exp := time.Now().Add(time.Duration(duration) * time.Second).UTC()

	x := c.startXML("AssumeRoleResponse")
	x.Open("AssumeRoleResult")
	x.Open("Credentials")
	x.Elem("AccessKeyId", key)
	x.Elem("SecretAccessKey", secret)
	x.Elem("SessionToken", token)
	x.Elem("Expiration", exp.Format(time.RFC3339))
	x.Close("Credentials")
	x.Open("AssumedRoleUser")
	x.Elem("AssumedRoleId", "AROASIM"+target.id+":"+session)
	x.Elem("Arn", "arn:"+s.partition+":sts::"+target.id+":assumed-role/"+role+"/"+session)
	x.Close("AssumedRoleUser")
	x.Close("AssumeRoleResult")
	c.endXML(x, "AssumeRoleResponse")
	return "ok"
}
