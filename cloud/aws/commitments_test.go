package aws

import (
	"context"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ballast-dev/ballast/cloud"
)

func newTestCommitments(s *awsServer) *Commitments {
	c := NewCommitments(s.config())
	c.now = func() time.Time { return testNow }
	return c
}

func TestReservedInstances(t *testing.T) {
	s := newAWSServer(t)
	const future, past = "2027-03-01T00:00:00.000Z", "2026-06-30T00:00:00.000Z"
	s.reserved = []string{
		reservedItem("ri-zonal", "m6i.large", "eu-west-1b", 2, "active", "Linux/UNIX", "default", future),
		reservedItem("ri-regional", "c6i.xlarge", "", 3, "active", "Linux/UNIX (Amazon VPC)", "default", future),
		// Left out: ended by now (though still listed as active), retired, another
		// platform, dedicated tenancy.
		reservedItem("ri-ended", "m6i.large", "", 5, "active", "Linux/UNIX", "default", past),
		reservedItem("ri-retired", "r6i.large", "", 1, "retired", "Linux/UNIX", "default", past),
		reservedItem("ri-windows", "m6i.large", "", 4, "active", "Windows", "default", future),
		reservedItem("ri-dedicated", "m6i.large", "", 4, "active", "Linux/UNIX", "dedicated", future),
	}
	got, err := newTestCommitments(s).ReservedInstances(context.Background(), "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	end := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	want := []cloud.ReservedInstance{
		{ID: "ri-regional", InstanceType: "c6i.xlarge", Count: 3, Region: "eu-west-1", End: end},
		{ID: "ri-zonal", InstanceType: "m6i.large", Count: 2, Region: "eu-west-1", Zone: "eu-west-1b", End: end},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("reserved instances = %+v, want %+v", got, want)
	}
	if len(s.requests) != 1 {
		t.Fatalf("%d requests, want 1", len(s.requests))
	}
	r := s.requests[0]
	for k, v := range map[string]string{"Action": "DescribeReservedInstances", "Filter.1.Name": "state", "Filter.1.Value.1": "active",
		"Filter.1.Value.2": "", "Filter.2.Name": ""} {
		if r.params[k] != v {
			t.Errorf("%s = %q, want %q", k, r.params[k], v)
		}
	}
	if !strings.Contains(r.authorization, "Credential="+testKeyID+"/") || !strings.Contains(r.authorization, "/eu-west-1/ec2/aws4_request") {
		t.Errorf("request not signed for EC2 in eu-west-1: %q", r.authorization)
	}
}

func TestSavingsPlans(t *testing.T) {
	s := newAWSServer(t)
	const future, past = "2027-03-01T00:00:00.000Z", "2026-07-01T11:59:59.000Z"
	s.savingsPlans = [][]string{{
		savingsPlanJSON("sp-ec2", "EC2Instance", "active", "1.25", "m6i", "eu-west-1", future),
		savingsPlanJSON("sp-retired", "Compute", "retired", "9.0", "", "", past),
	}, {
		savingsPlanJSON("sp-compute", "Compute", "active", "0.5", "", "", future),
		// Left out: ended a second before now, and a SageMaker plan.
		savingsPlanJSON("sp-ended", "Compute", "active", "7.0", "", "", past),
		savingsPlanJSON("sp-sagemaker", "SageMaker", "active", "3.0", "", "", future),
	}, {
		savingsPlanJSON("sp-other-region", "EC2Instance", "active", "2", "c7g", "us-east-1", future),
	}}
	got, err := newTestCommitments(s).SavingsPlans(context.Background(), "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	end := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	want := []cloud.SavingsPlan{
		{ID: "sp-compute", Type: cloud.ComputeSavingsPlan, PerHour: 0.5, Currency: "USD", End: end},
		{ID: "sp-ec2", Type: cloud.EC2InstanceSavingsPlan, Family: "m6i", Region: "eu-west-1", PerHour: 1.25, Currency: "USD", End: end},
		// Every plan of the account: the caller keeps those of its region.
		{ID: "sp-other-region", Type: cloud.EC2InstanceSavingsPlan, Family: "c7g", Region: "us-east-1", PerHour: 2, Currency: "USD", End: end},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("savings plans = %+v, want %+v", got, want)
	}
	var tokens []string
	for _, r := range s.requests {
		tokens = append(tokens, r.params["nextToken"])
		if r.params["states"] != "active" {
			t.Errorf("states = %q, want active", r.params["states"])
		}
		if !strings.Contains(r.authorization, "Credential="+testKeyID+"/") || !strings.Contains(r.authorization, "/savingsplans/aws4_request") {
			t.Errorf("request not signed for Savings Plans: %q", r.authorization)
		}
	}
	if strings.Join(tokens, ",") != ",page-1,page-2" {
		t.Errorf("requests with tokens %q, want the three pages in order", tokens)
	}
}

// redirect sends every request to the test server, recording the URL the SDK chose.
type redirect struct {
	to   *url.URL
	base http.RoundTripper
	urls []string
	auth []string
}

func (r *redirect) RoundTrip(req *http.Request) (*http.Response, error) {
	r.urls = append(r.urls, req.URL.String())
	r.auth = append(r.auth, req.Header.Get("Authorization"))
	req = req.Clone(req.Context())
	req.URL.Scheme, req.URL.Host, req.Host = r.to.Scheme, r.to.Host, ""
	return r.base.RoundTrip(req)
}

// Savings Plans are global: without an endpoint set, the SDK's own endpoint rules send
// a question about any region of the aws partition to savingsplans.amazonaws.com,
// signed for us-east-1.
func TestSavingsPlansGlobalEndpoint(t *testing.T) {
	s := newAWSServer(t)
	s.savingsPlans = [][]string{{savingsPlanJSON("sp-compute", "Compute", "active", "0.5", "", "", "2027-03-01T00:00:00.000Z")}}
	to, _ := url.Parse(s.URL)
	rt := &redirect{to: to, base: s.Client().Transport}
	cfg := s.config()
	cfg.BaseEndpoint = nil
	cfg.HTTPClient = &http.Client{Transport: rt}
	c := NewCommitments(cfg)
	c.now = func() time.Time { return testNow }
	got, err := c.SavingsPlans(context.Background(), "ap-southeast-2")
	if err != nil || len(got) != 1 {
		t.Fatalf("savings plans = %+v, %v; want the Compute plan", got, err)
	}
	if len(rt.urls) != 1 || rt.urls[0] != "https://savingsplans.amazonaws.com/DescribeSavingsPlans" {
		t.Errorf("requests to %q, want https://savingsplans.amazonaws.com/DescribeSavingsPlans", rt.urls)
	}
	if len(rt.auth) != 1 || !strings.Contains(rt.auth[0], "/us-east-1/savingsplans/aws4_request") {
		t.Errorf("request not signed for us-east-1: %q", rt.auth)
	}
}

func TestCommitmentsErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failures []string
		call     func(context.Context, *Commitments) error
		requests int
		// err checks the error; nil means the call succeeds after the SDK's retries.
		err  func(error) bool
		says []string
	}{{
		name: "Savings Plans access denied (403), not retried", failures: []string{"AccessDeniedException"},
		call: savingsPlansCall, requests: 1, err: onlyAccessDenied,
		says: []string{"AccessDeniedException", "savingsplans:DescribeSavingsPlans", "[REDACTED]"},
	}, {
		name: "Savings Plans throttled past the retries", failures: []string{"ThrottlingException", "ThrottlingException", "ThrottlingException"},
		call: savingsPlansCall, requests: 3, err: onlyThrottled,
		says: []string{"ThrottlingException", "savingsplans:DescribeSavingsPlans", "Savings Plans"},
	}, {
		name: "Savings Plans throttled once, retried", failures: []string{"ThrottlingException"},
		call: savingsPlansCall, requests: 2,
	}, {
		name: "Reserved Instances unauthorized", failures: []string{"UnauthorizedOperation"},
		call: reservedCall, requests: 1, err: onlyAccessDenied,
		says: []string{"UnauthorizedOperation", "ec2:DescribeReservedInstances", "Reserved Instances in eu-west-1"},
	}, {
		name: "Reserved Instances request limit exceeded past the retries", failures: []string{"RequestLimitExceeded", "RequestLimitExceeded", "RequestLimitExceeded"},
		call: reservedCall, requests: 3, err: onlyThrottled,
		says: []string{"RequestLimitExceeded", "ec2:DescribeReservedInstances"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			s := newAWSServer(t)
			s.failures = tc.failures
			err := tc.call(context.Background(), newTestCommitments(s))
			if len(s.requests) != tc.requests {
				t.Errorf("%d requests, want %d", len(s.requests), tc.requests)
			}
			if tc.err == nil {
				if err != nil {
					t.Fatalf("err = %v, want none", err)
				}
				return
			}
			if !tc.err(err) {
				t.Fatalf("err = %v of the wrong kind", err)
			}
			msg := err.Error()
			for _, want := range tc.says {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q does not say %q", msg, want)
				}
			}
			if strings.Contains(msg, testKeyID) || strings.Contains(msg, testSecret) {
				t.Errorf("message %q shows credentials", msg)
			}
		})
	}
}

func savingsPlansCall(ctx context.Context, c *Commitments) error {
	got, err := c.SavingsPlans(ctx, "eu-west-1")
	if err != nil && got != nil {
		return nil // an error must come alone; the check of the error then fails
	}
	return err
}

func reservedCall(ctx context.Context, c *Commitments) error {
	got, err := c.ReservedInstances(ctx, "eu-west-1")
	if err != nil && got != nil {
		return nil
	}
	return err
}

func onlyAccessDenied(err error) bool {
	return cloud.IsAccessDenied(err) && !cloud.IsThrottled(err) && !cloud.IsNotFound(err)
}

func onlyThrottled(err error) bool { return cloud.IsThrottled(err) && !cloud.IsAccessDenied(err) }

func TestCommitmentsRefuseBadAnswers(t *testing.T) {
	for _, tc := range []struct {
		name, item, err string
	}{
		{"commitment not a number", savingsPlanJSON("sp-1", "Compute", "active", "lots", "", "", "2027-03-01T00:00:00Z"), `commitment "lots"`},
		{"end not a time", savingsPlanJSON("sp-2", "Compute", "active", "1", "", "", "next year"), `end "next year"`},
		{"EC2 Instance plan without a family", savingsPlanJSON("sp-3", "EC2Instance", "active", "1", "", "eu-west-1", "2027-03-01T00:00:00Z"), "without an instance family"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newAWSServer(t)
			s.savingsPlans = [][]string{{tc.item}}
			got, err := newTestCommitments(s).SavingsPlans(context.Background(), "eu-west-1")
			if err == nil || got != nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("savings plans = %+v, err = %v; want only an error saying %q", got, err, tc.err)
			}
		})
	}
	s := newAWSServer(t)
	if _, err := newTestCommitments(s).ReservedInstances(context.Background(), ""); err == nil || len(s.requests) != 0 {
		t.Errorf("no region: err = %v after %d requests, want an error and none", err, len(s.requests))
	}
}
