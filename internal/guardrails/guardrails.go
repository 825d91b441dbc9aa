// Package guardrails turns a scan's evidence into the organization policies
// that keep IMDSv1 from coming back, and says for every scope
// (organizational unit, account, Region) which of them can be attached
// today without denying anything the fleet still does.
//
// It knows four guardrails (see [All]): three service control policies
// (SCPs) and one EC2 declarative policy. [Documents] writes each one ready
// to attach, with the exceptions a team needs (break-glass roles, a tag
// exemption) as [Params]; [Assess] judges readiness from an [Evidence],
// which package report fills from a scan report. The condition keys and
// operators the documents use, and the facts behind what each guardrail
// denies, are in docs/guardrails.md with their AWS sources.
//
// This package makes no AWS call, changes nothing, prints nothing and does
// not import package report (report imports it to draw the HTML section):
// it works on plain values only.
package guardrails

// ID names a guardrail in every output (JSON, tables, file names).
type ID string

// The guardrails, in the order they are shown.
const (
	// RequireV2AtLaunch: SCP denying ec2:RunInstances unless the instance
	// requires IMDSv2 (ec2:MetadataHttpTokens), optionally with a hop
	// limit ceiling (ec2:MetadataHttpPutResponseHopLimit).
	RequireV2AtLaunch ID = "require-imdsv2-at-launch"
	// DenyV1Reenable: SCP denying ec2:ModifyInstanceMetadataOptions calls
	// that set HttpTokens to anything but required (ec2:Attribute/HttpTokens).
	DenyV1Reenable ID = "deny-imdsv1-reenable"
	// DenyV1Credentials: SCP denying every API call signed with role
	// credentials that IMDSv1 delivered (ec2:RoleDelivery below 2.0).
	DenyV1Credentials ID = "deny-imdsv1-role-credentials"
	// DeclarativeDefaults: EC2 declarative policy setting the instance
	// metadata defaults (ec2_attributes.instance_metadata_defaults): tokens
	// required and, unless turned off, http_tokens_enforced.
	DeclarativeDefaults ID = "declarative-imds-defaults"
)

// Policy types, as `aws organizations create-policy --type` names them.
const (
	TypeSCP         = "SERVICE_CONTROL_POLICY"
	TypeDeclarative = "DECLARATIVE_POLICY_EC2"
)

// Guardrail describes one guardrail: what it denies and what attaching it
// would break. The texts are fixed (no fleet text), so every output can
// show them as they are.
type Guardrail struct {
	ID   ID     `json:"id"`
	Type string `json:"type"`
	// File is the name of its document under --out-dir.
	File string `json:"file"`
	// Title is one line for tables.
	Title string `json:"title"`
	// Denies says what AWS refuses once it is attached.
	Denies string `json:"denies"`
	// Breaks lists what stops working if it is attached too early.
	Breaks []string `json:"breaks"`
	// BlockedBy names the evidence that blocks it (see [BlockerKind]).
	BlockedBy []BlockerKind `json:"blockedBy"`
}

// All returns the four guardrails in display order. Breaks and BlockedBy
// depend on p: a hop limit ceiling adds hop-limit blockers, and the
// declarative policy without http_tokens_enforced only changes defaults.
func All(p Params) []Guardrail {
	launch := []BlockerKind{KindInstanceV1InUse, KindInstanceNoData, KindLaunchTemplate, KindLaunchConfiguration, KindAutoScalingGroup, KindAccountDefault}
	g1 := Guardrail{
		ID: RequireV2AtLaunch, Type: TypeSCP, File: "scp-" + string(RequireV2AtLaunch) + ".json",
		Title:  "SCP: deny RunInstances unless IMDSv2 is required",
		Denies: "ec2:RunInstances whose instance would not require IMDSv2 (ec2:MetadataHttpTokens is not \"required\")",
		Breaks: []string{
			"launches (consoles, scripts, IaC, Karpenter, CI) whose request or launch template leaves HttpTokens optional or unset: UnauthorizedOperation",
			"creating or updating an Auto Scaling group whose launch template allows IMDSv1 (the group's own scale-outs use its service-linked role, which SCPs do not restrict)",
			"workloads still using IMDSv1 cannot be replaced as they run today",
		},
		BlockedBy: launch,
	}
	if p.MaxHopLimit > 0 {
		g1.Denies += "; or whose hop limit is above the ceiling (ec2:MetadataHttpPutResponseHopLimit)"
		g1.Breaks = append(g1.Breaks, "launches asking for a hop limit above the ceiling")
	}
	g2 := Guardrail{
		ID: DenyV1Reenable, Type: TypeSCP, File: "scp-" + string(DenyV1Reenable) + ".json",
		Title:  "SCP: deny turning IMDSv1 back on",
		Denies: "ec2:ModifyInstanceMetadataOptions calls that set HttpTokens to anything but \"required\" (calls that leave HttpTokens out, such as a hop-limit change, are not affected)",
		Breaks: []string{
			"imdsfleet rollback and any other way back to HttpTokens=optional after an enforcement broke something: attach it after the rollout has baked",
			"instances enforced while IMDSv1 calls are still being rejected (risk v1-rejected) cannot be put back",
		},
		BlockedBy: []BlockerKind{KindInstanceV1Rejected},
	}
	g3 := Guardrail{
		ID: DenyV1Credentials, Type: TypeSCP, File: "scp-" + string(DenyV1Credentials) + ".json",
		Title:  "SCP: deny API calls signed with IMDSv1-delivered role credentials",
		Denies: "every action signed with EC2 role credentials that IMDSv1 delivered (ec2:RoleDelivery below 2.0); other credentials lack the key and are not affected",
		Breaks: []string{
			"software on instances with an instance profile that still reads its role credentials over IMDSv1 (old SDKs, scripts, agents): every AWS call it makes is denied",
		},
		BlockedBy: []BlockerKind{KindInstanceV1InUse, KindInstanceNoData},
	}
	g4 := Guardrail{
		ID: DeclarativeDefaults, Type: TypeDeclarative, File: string(DeclarativeDefaults) + ".json",
		Title: "Declarative policy: instance metadata defaults, IMDSv2 required",
	}
	if p.TokensEnforced {
		g4.Denies = "launches that would end with HttpTokens optional (from any layer, a launch template's explicit optional included), and turning IMDSv1 back on on instances (http_tokens_enforced); account administrators can no longer change the defaults"
		g4.Breaks = []string{
			"launch templates, launch configurations and groups whose next launch allows IMDSv1: their launches fail",
			"workloads still using IMDSv1 cannot be replaced as they run today",
			"imdsfleet rollback and any other way back to HttpTokens=optional",
		}
	} else {
		g4.Denies = "nothing is denied: launches that leave HttpTokens unset get \"required\" (the account-default layer); account administrators can no longer change the defaults"
		g4.Breaks = []string{
			"workloads still using IMDSv1 whose launch template or request leaves HttpTokens unset: their next instances require IMDSv2",
		}
	}
	g4.BlockedBy = launch
	return []Guardrail{g1, g2, g3, g4}
}
