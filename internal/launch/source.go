package launch

import "github.com/imdsfleet/imdsfleet/report"

// Tags EC2, Auto Scaling, EKS, Karpenter and Elastic Beanstalk put on the
// instances they launch (see docs/next-launch.md).
const (
	TagAutoScalingGroup   = "aws:autoscaling:groupName"
	TagTemplateID         = "aws:ec2launchtemplate:id"
	TagTemplateVersion    = "aws:ec2launchtemplate:version"
	TagFleetID            = "aws:ec2:fleet-id"
	TagEKSCluster         = "eks:cluster-name"
	TagEKSNodegroup       = "eks:nodegroup-name"
	TagEKSAutoCluster     = "eks:eks-cluster-name"
	TagEKSAutoNodePool    = "eks:kubernetes-node-pool-name"
	TagKarpenterNodePool  = "karpenter.sh/nodepool"
	TagKarpenterNodeClass = "karpenter.k8s.aws/ec2nodeclass"
	TagBeanstalkEnv       = "elasticbeanstalk:environment-name"
)

// SourceOf reads where an instance came from out of its tags. The kind is
// the first that applies: the Auto Scaling group (its next instance comes
// from the group's current template or configuration, whatever launched
// this one), a Karpenter node pool (its EC2NodeClass decides; the launch
// template Karpenter wrote from it, when tagged, is kept as evidence), the
// launch template version, EKS Auto Mode, else manual. The other tags (EKS node
// group and cluster, Beanstalk environment, fleet) are kept for the
// workloads and for people. SourceID is left for [Resolve] to fill.
func SourceOf(tags map[string]string) report.InstanceLaunchSource {
	s := report.InstanceLaunchSource{
		AutoScalingGroup: tags[TagAutoScalingGroup],
		TemplateID:       tags[TagTemplateID],
		TemplateVersion:  tags[TagTemplateVersion],
		EKSCluster:       tags[TagEKSCluster],
		EKSNodegroup:     tags[TagEKSNodegroup],
		KarpenterPool:    tags[TagKarpenterNodePool],
		KarpenterClass:   tags[TagKarpenterNodeClass],
		Beanstalk:        tags[TagBeanstalkEnv],
		FleetID:          tags[TagFleetID],
	}
	if s.EKSCluster == "" {
		s.EKSCluster = tags[TagEKSAutoCluster]
	}
	autoPool := tags[TagEKSAutoNodePool]
	switch {
	case s.AutoScalingGroup != "":
		s.Kind, s.Name = report.SourceAutoScalingGroup, s.AutoScalingGroup
	case s.KarpenterPool != "" && autoPool == "":
		// Karpenter launches through CreateFleet from launch templates it
		// writes from the EC2NodeClass, so its nodes carry the template
		// tags too; the template is Karpenter's output, not the source.
		s.Kind, s.Name = report.SourceKarpenter, s.KarpenterPool
	case s.TemplateID != "":
		s.Kind, s.Name = report.SourceLaunchTemplate, s.TemplateID+":"+s.TemplateVersion
	case autoPool != "":
		s.Kind, s.Name, s.KarpenterPool = report.SourceEKSAutoMode, autoPool, autoPool
	case s.KarpenterPool != "":
		s.Kind, s.Name = report.SourceKarpenter, s.KarpenterPool
	default:
		s.Kind = report.SourceManual
	}
	return s
}
