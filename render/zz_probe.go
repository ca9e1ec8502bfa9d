package render

import (
	_ "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	_ "sigs.k8s.io/karpenter/pkg/apis/v1"
	_ "sigs.k8s.io/yaml"
)
