package cloud

import (
	"context"
	"time"
)

// CommitmentSource lists the account's Reserved Instances and Savings Plans, so that the
// commitments a ClusterPolicy discovers (spec.commitments.source: Discover) come from
// AWS rather than from a list kept by hand in Git.
type CommitmentSource interface {
	// ReservedInstances returns the active EC2 Reserved Instances of region that cover
	// Linux/UNIX instances of default tenancy; those whose term has ended are left out.
	ReservedInstances(ctx context.Context, region string) ([]ReservedInstance, error)
	// SavingsPlans returns the account's active Compute and EC2 Instance Savings Plans
	// (Savings Plans are global: region only chooses the partition's endpoint, and every
	// plan is returned whatever its region); those whose term has ended are left out.
	SavingsPlans(ctx context.Context, region string) ([]SavingsPlan, error)
}

// ReservedInstance is one EC2 Reserved Instance purchase: Count instances of one type.
type ReservedInstance struct {
	// ID is the reservation's ID, for messages.
	ID string
	// InstanceType is the type reserved, e.g. m6i.large.
	InstanceType string
	// Count is how many instances the reservation covers.
	Count int32
	// Region is the region of the reservation.
	Region string
	// Zone is the availability zone name of a zonal reservation (scope Availability
	// Zone), which covers its type in that zone only; empty for a regional one, which
	// is size-flexible within its family.
	Zone string
	// End is when the term ends.
	End time.Time
}

// SavingsPlanType is the kind of a Savings Plan Ballast uses: Compute or EC2Instance.
type SavingsPlanType string

// The Savings Plan types that cover EC2 instances. SageMaker and Database plans do not,
// and are left out.
const (
	// ComputeSavingsPlan covers any instance family in any region.
	ComputeSavingsPlan SavingsPlanType = "Compute"
	// EC2InstanceSavingsPlan covers one instance family in one region.
	EC2InstanceSavingsPlan SavingsPlanType = "EC2Instance"
)

// SavingsPlan is one Savings Plan: a commitment to spend an amount per hour.
type SavingsPlan struct {
	// ID is the plan's ID, for messages.
	ID string
	// Type is Compute or EC2Instance.
	Type SavingsPlanType
	// Family is the instance family an EC2Instance plan covers (e.g. m6i); empty for a
	// Compute plan.
	Family string
	// Region is the region an EC2Instance plan covers; empty for a Compute plan.
	Region string
	// PerHour is the commitment per hour, in Currency.
	PerHour float64
	// Currency is the commitment's currency code, e.g. USD (CNY in the China regions).
	Currency string
	// End is when the term ends.
	End time.Time
}
