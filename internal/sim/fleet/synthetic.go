package fleet

import (
	"fmt"
	"math/rand"
	"time"
)

// SyntheticOptions size a generated fleet.
type SyntheticOptions struct {
	Instances int   // in all, spread over accounts and Regions
	Regions   int   // per account (default 4, at most len(SyntheticRegions))
	Accounts  int   // default 1
	Seed      int64 // same seed, same fleet
}

// SyntheticRegions are the Regions a synthetic fleet uses, busiest first.
var SyntheticRegions = []string{
	"us-east-1", "eu-west-1", "ap-northeast-1", "us-west-2", "eu-central-1", "ap-southeast-1",
	"us-east-2", "ap-southeast-2", "eu-west-2", "ca-central-1", "ap-south-1", "sa-east-1",
	"eu-north-1", "us-west-1", "ap-northeast-2", "eu-west-3", "ap-northeast-3",
}

// SyntheticAccountID is the id of a synthetic fleet's i-th account
// (123456789012 for the first). Ids wrap modulo 10^12 to stay 12 digits
// (from the 790th account on); 1111111111 is coprime with 10^12, so the
// first 10^12 ids are all distinct.
func SyntheticAccountID(i int) string {
	return fmt.Sprintf("%012d", (123456789012+int64(i)*1111111111)%1_000_000_000_000)
}

// Synthetic kinds and their share of the fleet, in percent.
const (
	kindEnforced   = iota // 35: required (a third AL2023-style with hop limit 2)
	kindReady             // 25: optional, no v1 calls (some launched in the last 3 days)
	kindV1InUse           // 20: optional with MetadataNoToken > 0
	kindStopped           // 8: stopped, half for months, half for days
	kindContainer         // 6: EKS/ECS host, hop limit 1, half using v1
	kindDisabled          // 3: endpoint disabled
	kindTerminated        // 2
	kindOther             // the rest (1): pending/stopping, optional
)

var kindShare = []int{35, 25, 20, 8, 6, 3, 2, 1}

const synthDay = 24 * time.Hour

var (
	amazonLinux2   = []string{"ami-0c02fb55956c7d316", "ami-0b5eea76982371e91", "ami-05fa00d4c63e32376"}
	al2023         = []string{"ami-0e731c8a588258d0d", "ami-01b799c439fd5516a"}
	ubuntu         = []string{"ami-0557a15b87f6559cf", "ami-053b0d53c279acc90"}
	windows        = []string{"ami-0be0e902919675894", "ami-0c2b0d3fb02824d92"}
	eksOptimized   = []string{"ami-0a1b2c3d4e5f60718", "ami-0f9e8d7c6b5a40312"}
	ecsOptimized   = []string{"ami-0d5eff06f840b45e9"}
	instanceTypes  = []string{"t3.micro", "t3.small", "t3.medium", "m5.large", "m5.xlarge", "c5.large", "r5.large", "m6i.large", "t4g.small", "m7g.large"}
	containerTypes = []string{"m5.xlarge", "m6i.2xlarge", "c6i.xlarge", "m7g.xlarge"}
	apps           = []string{"web", "api", "worker", "batch", "db", "cache", "bastion", "etl", "jenkins", "vpn", "reports", "search", "queue", "auth"}
	envs           = []string{"prod", "prod", "prod", "staging", "dev", "test"}
	teams          = []string{"platform", "payments", "data", "growth", "security", "infra"}
	profiles       = []string{"web-server", "app-role", "ssm-managed", "batch-runner", "ci-agent", "data-pipeline", "legacy-app"}
)

// Synthetic generates a realistic fleet deterministically from o.Seed:
// about 35% enforced (a third of them AL2023-style with hop limit 2, a few
// with MetadataNoTokenRejected > 0), 25% ready (some launched in the last
// 3 days), 20% using IMDSv1, 8% stopped (half for months, half for days),
// 6% container hosts (EKS/ECS tags, hop limit 1, half using v1), 3% with
// the endpoint disabled, 2% terminated; 60% carry an instance profile.
// Most instances belong to an Auto Scaling group, an EKS node group or a
// Karpenter node pool, with the launch templates, launch configurations,
// AMIs and account defaults they launch from (see launchSources).
// Each instance's history is a few segments, never datapoints. Times are
// relative, so the fleet follows the server's clock.
func Synthetic(o SyntheticOptions) *Fleet {
	if o.Accounts <= 0 {
		o.Accounts = 1
	}
	if o.Regions <= 0 {
		o.Regions = 4
	}
	if o.Regions > len(SyntheticRegions) {
		o.Regions = len(SyntheticRegions)
	}
	if o.Instances < 0 {
		o.Instances = 0
	}
	rng := rand.New(rand.NewSource(o.Seed))
	g := &synth{rng: rng, seed: uint64(o.Seed)}
	f := &Fleet{Accounts: make([]Account, o.Accounts)}

	// Busier Regions first: weight 1/(i+1).
	var wsum float64
	for i := 0; i < o.Regions; i++ {
		wsum += 1 / float64(i+1)
	}
	sizes := syntheticAccountSizes(o.Instances, o.Accounts)
	for a := 0; a < o.Accounts; a++ {
		acct := &f.Accounts[a]
		acct.ID = SyntheticAccountID(a)
		perAccount := sizes[a]
		acct.Regions = make([]Region, o.Regions)
		regionLeft := perAccount
		for r := 0; r < o.Regions; r++ {
			n := int(float64(perAccount) / float64(r+1) / wsum)
			if r == o.Regions-1 || n > regionLeft {
				n = regionLeft
			}
			regionLeft -= n
			reg := &acct.Regions[r]
			reg.Name = SyntheticRegions[r]
			reg.Instances = make([]Instance, n)
			kinds := make([]int, n)
			for i := range reg.Instances {
				kinds[i] = g.instance(&reg.Instances[i], acct.ID)
			}
			launchSources(reg, kinds, acct.ID, r, o.Seed)
		}
	}
	if o.Accounts > 1 {
		syntheticOrganization(f)
	}
	return f
}

type synth struct {
	rng  *rand.Rand
	seed uint64
	n    uint64
	// reservation groups: a run of instances launched together
	resLeft int
	resID   string
}

// splitmix64 is a bijection, so distinct counters give distinct ids.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func (g *synth) pick(list []string) string { return list[g.rng.Intn(len(list))] }

// ago returns a duration between lo and hi days in the past.
func (g *synth) ago(lo, hi float64) time.Duration {
	d := lo + g.rng.Float64()*(hi-lo)
	return -time.Duration(d * float64(synthDay)).Round(time.Minute)
}

func (g *synth) kind() int {
	roll := g.rng.Intn(100)
	for k, share := range kindShare {
		if roll < share {
			return k
		}
		roll -= share
	}
	return kindOther
}

// instance fills in one instance and returns its kind.
func (g *synth) instance(in *Instance, account string) int {
	g.n++
	in.ID = fmt.Sprintf("i-0%016x", splitmix64(g.seed*0x2545f4914f6cdd1d^g.n))
	if g.resLeft == 0 {
		g.resID = fmt.Sprintf("r-0%016x", splitmix64(^(g.seed ^ g.n)))
		g.resLeft = 1
		if g.rng.Intn(10) == 0 { // an auto scaling burst of 2..4
			g.resLeft = 2 + g.rng.Intn(3)
		}
	}
	in.ReservationID = g.resID
	g.resLeft--

	k := g.kind()
	launch := g.ago(3, 700)
	in.State = "running"
	in.InstanceType = g.pick(instanceTypes)
	in.ImageID = g.pick(amazonLinux2)
	switch r := g.rng.Intn(10); {
	case r < 1:
		in.Platform = "windows"
		in.ImageID = g.pick(windows)
	case r < 3:
		in.ImageID = g.pick(ubuntu)
	}
	app := g.pick(apps)
	env := g.pick(envs)
	in.Tags = map[string]string{
		"Name": fmt.Sprintf("%s-%s-%d", app, env, g.rng.Intn(100)),
		"env":  env,
		"team": g.pick(teams),
	}
	if g.rng.Intn(100) < 60 {
		in.InstanceProfileArn = "arn:aws:iam::" + account + ":instance-profile/" + g.pick(profiles)
	}
	in.MetadataOptions = MetadataOptions{
		HttpTokens: "optional", HttpEndpoint: "enabled", HttpPutResponseHopLimit: 1,
		HttpProtocolIpv6: "disabled", InstanceMetadataTags: "disabled",
	}
	switch k {
	case kindEnforced:
		in.MetadataOptions.HttpTokens = "required"
		if g.rng.Intn(3) == 0 { // AL2023: ImdsSupport v2.0 AMIs default to required + hop 2
			in.ImageID = g.pick(al2023)
			in.Platform = ""
			in.MetadataOptions.HttpPutResponseHopLimit = 2
		}
		if g.rng.Intn(100) < 6 { // an old client keeps trying v1: rejected calls
			in.Usage = append(in.Usage, UsageSegment{Metric: MetricNoTokenRejected, From: Rel(g.ago(1, 20)), PerHour: float64(1 + g.rng.Intn(40))})
		}
	case kindReady:
		if g.rng.Intn(100) < 15 { // launched in the last 3 days: not enough evidence yet
			launch = g.ago(0.1, 3)
		}
	case kindV1InUse:
		g.v1Usage(in, launch)
	case kindStopped:
		var stopAt time.Duration
		if g.rng.Intn(2) == 0 {
			stopAt = g.ago(60, 400) // long stopped
			if launch > stopAt {
				launch = stopAt - 30*synthDay
			}
		} else {
			stopAt = g.ago(1, 10) // recently stopped
		}
		if launch >= stopAt {
			launch = stopAt - synthDay
		}
		in.State = "stopped"
		in.Running = []Interval{{From: Rel(launch), To: Rel(stopAt)}}
		if g.rng.Intn(3) == 0 {
			in.Usage = append(in.Usage, UsageSegment{Metric: MetricNoToken, From: Rel(launch), To: Rel(stopAt), PerHour: float64(1 + g.rng.Intn(60))})
		}
	case kindContainer:
		in.Platform = ""
		in.InstanceType = g.pick(containerTypes)
		if g.rng.Intn(3) == 0 {
			in.ImageID = g.pick(ecsOptimized)
			in.Tags["AmazonECSManaged"] = ""
			in.Tags["aws:ecs:clusterName"] = env + "-ecs"
		} else {
			in.ImageID = g.pick(eksOptimized)
			in.Tags["eks:cluster-name"] = env + "-eks"
			in.Tags["kubernetes.io/cluster/"+env+"-eks"] = "owned"
			in.Tags["eks:nodegroup-name"] = "ng-" + app
		}
		if in.InstanceProfileArn == "" {
			in.InstanceProfileArn = "arn:aws:iam::" + account + ":instance-profile/eks-node-" + env
		}
		if g.rng.Intn(2) == 0 { // pods fall back to v1 behind the hop limit
			g.v1Usage(in, launch)
		}
	case kindDisabled:
		in.MetadataOptions.HttpEndpoint = "disabled"
	case kindTerminated:
		end := g.ago(0.5, 30)
		if launch >= end {
			launch = end - synthDay
		}
		in.State = "terminated"
		in.Running = []Interval{{From: Rel(launch), To: Rel(end)}}
	case kindOther:
		if g.rng.Intn(2) == 0 {
			in.State = "pending"
			launch = -time.Duration(g.rng.Intn(300)) * time.Second
		} else {
			in.State = "stopping"
		}
	}
	in.LaunchTime = Rel(launch)
	return k
}

// v1Usage gives an instance MetadataNoToken calls in one of three shapes:
// steady since launch, only recently, or a few cron-like bursts.
func (g *synth) v1Usage(in *Instance, launch time.Duration) {
	rate := float64(1 + g.rng.Intn(200))
	switch g.rng.Intn(3) {
	case 0:
		in.Usage = append(in.Usage, UsageSegment{Metric: MetricNoToken, From: Rel(launch), PerHour: rate})
	case 1:
		from := g.ago(1, 30)
		if from < launch {
			from = launch
		}
		in.Usage = append(in.Usage, UsageSegment{Metric: MetricNoToken, From: Rel(from), PerHour: rate})
	default:
		bursts := 2 + g.rng.Intn(4)
		for range bursts {
			from := g.ago(0.5, 25)
			if from < launch {
				from = launch
			}
			in.Usage = append(in.Usage, UsageSegment{Metric: MetricNoToken, From: Rel(from), To: Rel(from + time.Duration(1+g.rng.Intn(6))*time.Hour), PerHour: rate})
		}
	}
}
