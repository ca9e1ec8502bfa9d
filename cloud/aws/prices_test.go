package aws

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ballast-dev/ballast/cloud"
)

var testNow = time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)

func newTestPrices(s *awsServer) *Prices {
	p := NewPrices(s.config())
	p.now = func() time.Time { return testNow }
	return p
}

func TestOnDemandPrices(t *testing.T) {
	s := newAWSServer(t)
	// m6i.large is answered over two pages: first an item for another type (which a
	// filter would normally exclude), then the real one.
	s.products["m6i.large"] = []string{productJSON("m6i.2xlarge", "eu-west-1", "0.4280000000"), productJSON("m6i.large", "eu-west-1", "0.1070000000")}
	s.products["c6i.large"] = []string{productJSON("c6i.large", "eu-west-1", "0.0960000000")}
	got, err := newTestPrices(s).OnDemandPrices(context.Background(), "eu-west-1", []string{"m6i.large", "c6i.large", "m6i.large", "x9.huge"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"m6i.large": 0.107, "c6i.large": 0.096}
	if len(got) != len(want) || got["m6i.large"] != want["m6i.large"] || got["c6i.large"] != want["c6i.large"] {
		t.Errorf("prices = %v, want %v (x9.huge absent)", got, want)
	}
	// One query per distinct type (sorted), m6i.large over two pages: 4 requests.
	var types []string
	for _, r := range s.requests {
		types = append(types, strings.TrimPrefix(r.params["instanceType"], "TERM_MATCH:")+r.params["NextToken"])
	}
	if strings.Join(types, ",") != "c6i.large,m6i.large,m6i.largepage-2,x9.huge" {
		t.Errorf("requests for %v", types)
	}
	r := s.requests[0]
	for field, value := range map[string]string{"regionCode": "eu-west-1", "operatingSystem": "Linux", "tenancy": "Shared",
		"preInstalledSw": "NA", "capacitystatus": "Used", "ServiceCode": "AmazonEC2"} {
		if v := strings.TrimPrefix(r.params[field], "TERM_MATCH:"); v != value {
			t.Errorf("%s = %q, want %q", field, v, value)
		}
	}
	// Signed with the static credentials, for the Pricing service in us-east-1.
	if !strings.Contains(r.authorization, "Credential="+testKeyID+"/") || !strings.Contains(r.authorization, "/us-east-1/pricing/aws4_request") {
		t.Errorf("authorization = %q", r.authorization)
	}
}

func TestSpotPrices(t *testing.T) {
	s := newAWSServer(t)
	s.spot = [][]string{{
		spotItem("m6i.large", "eu-west-1a", "0.040000", "2026-07-01T10:00:00.000Z"),
		spotItem("m6i.large", "eu-west-1a", "0.038000", "2026-07-01T11:00:00.000Z"),
		spotItem("m6i.large", "eu-west-1b", "0.042000", "2026-07-01T09:30:00.000Z"),
	}, {
		spotItem("c6i.large", "eu-west-1c", "0.030000", "2026-07-01T11:59:00.000Z"),
	}}
	got, err := newTestPrices(s).SpotPrices(context.Background(), "eu-west-1", []string{"m6i.large", "c6i.large"})
	if err != nil {
		t.Fatal(err)
	}
	// m6i.large: latest in a (0.038, not the older 0.040) and b (0.042): mean 0.040.
	if len(got) != 2 || got["m6i.large"] < 0.04-1e-12 || got["m6i.large"] > 0.04+1e-12 || got["c6i.large"] != 0.03 {
		t.Errorf("prices = %v, want m6i.large 0.040, c6i.large 0.030", got)
	}
	if len(s.requests) != 2 {
		t.Fatalf("%d requests, want 2 pages", len(s.requests))
	}
	first, second := s.requests[0].params, s.requests[1].params
	if first["InstanceType.1"] != "c6i.large" || first["InstanceType.2"] != "m6i.large" || first["ProductDescription.1"] != "Linux/UNIX" ||
		first["StartTime"] != "2026-07-01T12:00:00Z" || first["NextToken"] != "" || second["NextToken"] != "page-1" {
		t.Errorf("requests = %v, %v", first, second)
	}
	if !strings.Contains(s.requests[0].authorization, "/eu-west-1/ec2/aws4_request") {
		t.Errorf("EC2 request not signed for eu-west-1: %q", s.requests[0].authorization)
	}
}

func TestThrottlingIsRetried(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failures []string
		call     func(*Prices) (map[string]float64, error)
		requests int
		want     float64
		err      func(error) bool
	}{{
		name: "pricing throttled once", failures: []string{"ThrottlingException"}, requests: 2, want: 0.107,
		call: func(p *Prices) (map[string]float64, error) {
			return p.OnDemandPrices(context.Background(), "eu-west-1", []string{"m6i.large"})
		},
	}, {
		name: "EC2 request limit exceeded twice", failures: []string{"RequestLimitExceeded", "RequestLimitExceeded"}, requests: 3, want: 0.038,
		call: func(p *Prices) (map[string]float64, error) {
			return p.SpotPrices(context.Background(), "eu-west-1", []string{"m6i.large"})
		},
	}, {
		name: "pricing throttled past the retries", failures: []string{"ThrottlingException", "ThrottlingException", "ThrottlingException"}, requests: 3,
		call: func(p *Prices) (map[string]float64, error) {
			return p.OnDemandPrices(context.Background(), "eu-west-1", []string{"m6i.large"})
		},
		err: cloud.IsThrottled,
	}, {
		name: "EC2 throttled past the retries", failures: []string{"RequestLimitExceeded", "RequestLimitExceeded", "RequestLimitExceeded"}, requests: 3,
		call: func(p *Prices) (map[string]float64, error) {
			return p.SpotPrices(context.Background(), "eu-west-1", []string{"m6i.large"})
		},
		err: cloud.IsThrottled,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			s := newAWSServer(t)
			s.failures = tc.failures
			s.products["m6i.large"] = []string{productJSON("m6i.large", "eu-west-1", "0.1070000000")}
			s.spot = [][]string{{spotItem("m6i.large", "eu-west-1a", "0.038000", "2026-07-01T11:00:00.000Z")}}
			got, err := tc.call(newTestPrices(s))
			if len(s.requests) != tc.requests {
				t.Errorf("%d requests, want %d", len(s.requests), tc.requests)
			}
			if tc.err != nil {
				if err == nil || !tc.err(err) || cloud.IsAccessDenied(err) {
					t.Fatalf("err = %v, want a typed throttling error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got["m6i.large"] != tc.want {
				t.Errorf("price = %v, want %v", got["m6i.large"], tc.want)
			}
		})
	}
}

func TestAccessDenied(t *testing.T) {
	for _, tc := range []struct {
		name string
		code string
		call func(*Prices) error
	}{
		{"pricing", "AccessDeniedException", func(p *Prices) error {
			_, err := p.OnDemandPrices(context.Background(), "eu-west-1", []string{"m6i.large"})
			return err
		}},
		{"EC2", "UnauthorizedOperation", func(p *Prices) error {
			_, err := p.SpotPrices(context.Background(), "eu-west-1", []string{"m6i.large"})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newAWSServer(t)
			s.failures = []string{tc.code}
			err := tc.call(newTestPrices(s))
			if !cloud.IsAccessDenied(err) || cloud.IsThrottled(err) || cloud.IsNotFound(err) {
				t.Fatalf("err = %v, want only an access-denied error", err)
			}
			// Access denied is not retried, and says what failed without credentials.
			if len(s.requests) != 1 {
				t.Errorf("%d requests, want 1", len(s.requests))
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.code) || !strings.Contains(msg, "m6i.large") && !strings.Contains(msg, "Spot prices in eu-west-1") {
				t.Errorf("message %q does not say what failed", msg)
			}
			if strings.Contains(msg, testKeyID) || strings.Contains(msg, testSecret) {
				t.Errorf("message %q shows credentials", msg)
			}
		})
	}
}

func TestClassifyOtherErrors(t *testing.T) {
	s := newAWSServer(t)
	s.failures = []string{"NotFoundException"}
	_, err := newTestPrices(s).OnDemandPrices(context.Background(), "eu-west-1", []string{"m6i.large"})
	if !cloud.IsNotFound(err) || cloud.IgnoreNotFound(err) != nil {
		t.Errorf("err = %v, want a not-found error", err)
	}
	// A server that is gone: a transport error, wrapped with what failed.
	s.Close()
	_, err = newTestPrices(s).SpotPrices(context.Background(), "eu-west-1", []string{"m6i.large"})
	if err == nil || cloud.IsNotFound(err) || !strings.Contains(err.Error(), "failed to get Spot prices in eu-west-1") {
		t.Errorf("err = %v", err)
	}
}
